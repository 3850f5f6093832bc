//! The signalling WebSocket (spec §2): one JSON text frame per message.

use futures_util::{SinkExt, StreamExt};
use sotto_proto::{ClientMessage, DecodeError, ServerMessage, decode_server, encode};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why signalling failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignallingError {
    /// The server could not be reached or refused the WebSocket.
    #[error("cannot open the signalling WebSocket: {0}")]
    Connect(#[source] tokio_tungstenite::tungstenite::Error),
    /// The connection broke.
    #[error("signalling connection failed: {0}")]
    Transport(#[source] tokio_tungstenite::tungstenite::Error),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
}

/// A message from the server that this client could not read.
#[derive(Debug, Clone)]
pub struct Unreadable(pub DecodeError);

/// One signalling connection.
pub struct Signalling {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl std::fmt::Debug for Signalling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signalling")
    }
}

impl Signalling {
    /// Opens the WebSocket at `url` (`ws://…/ws` or `wss://…/ws`).
    pub async fn connect(url: &str) -> Result<Signalling, SignallingError> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(SignallingError::Connect)?;
        Ok(Signalling { ws })
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), SignallingError> {
        self.ws
            .send(Message::text(encode(msg)))
            .await
            .map_err(SignallingError::Transport)
    }

    /// The next message. A message that does not decode is returned as
    /// `Err(Unreadable)` inside `Ok`, so that the caller can skip it (spec
    /// §2: unknown things are not fatal).
    pub async fn recv(&mut self) -> Result<Result<ServerMessage, Unreadable>, SignallingError> {
        loop {
            match self.ws.next().await {
                None => return Err(SignallingError::Closed),
                Some(Err(e)) => return Err(SignallingError::Transport(e)),
                Some(Ok(Message::Text(text))) => {
                    return Ok(decode_server(text.as_str()).map_err(Unreadable));
                }
                Some(Ok(Message::Close(_))) => return Err(SignallingError::Closed),
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => {}
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

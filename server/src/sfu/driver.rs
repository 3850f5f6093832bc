//! The media thread: the UDP socket, the command channel and the clock
//! around the sans-IO [`Engine`]. Kept thin on purpose: everything worth
//! testing is in the engine.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tracing::{debug, error};

use super::engine::{Command, Engine};
use crate::media::MediaEvent;

/// Datagrams read before the engine's output is sent and its deadline
/// looked at again: bounds latency under load while amortising the loop.
const READ_BATCH: usize = 64;
/// Largest datagram read; anything longer is not WebRTC media and is cut
/// (then refused by the peer connection).
const MAX_DATAGRAM: usize = 2048;
/// How long to sleep when the engine has no deadline.
const IDLE: Duration = Duration::from_secs(3600);

/// Starts the media thread.
pub(crate) fn spawn(
    socket: StdUdpSocket,
    engine: Engine,
    commands: UnboundedReceiver<Command>,
    events: UnboundedSender<MediaEvent>,
) -> io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    thread::Builder::new()
        .name("sotto-media".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                match UdpSocket::from_std(socket) {
                    Ok(socket) => run(socket, engine, commands, events).await,
                    Err(err) => error!(%err, "media socket unusable"),
                }
            });
        })
}

async fn run(
    socket: UdpSocket,
    mut engine: Engine,
    mut commands: UnboundedReceiver<Command>,
    events: UnboundedSender<MediaEvent>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut stopping = false;
    loop {
        while let Some(t) = engine.poll_transmit() {
            send(&socket, &t.payload, t.destination).await;
        }
        while let Some(event) = engine.poll_event() {
            // Signalling gone means the server is stopping; keep draining.
            let _ = events.send(event);
        }
        if stopping {
            return;
        }
        let deadline = engine
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + IDLE);
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(Command::Shutdown) | None => {
                    engine.handle_command(Instant::now(), Command::Shutdown);
                    stopping = true;
                }
                Some(command) => engine.handle_command(Instant::now(), command),
            },
            ready = socket.readable() => {
                if let Err(err) = ready {
                    error!(%err, "media socket failed");
                    return;
                }
                for _ in 0..READ_BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Ok((n, from)) => {
                            let local = engine.local_for(from).unwrap_or(from);
                            engine.handle_datagram(Instant::now(), from, local, &buf[..n]);
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        // ICMP errors surface here on some systems; they
                        // concern one peer, not the socket.
                        Err(err) => debug!(%err, "media socket read"),
                    }
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => engine.handle_timeout(Instant::now()),
        }
    }
}

async fn send(socket: &UdpSocket, payload: &[u8], to: SocketAddr) {
    let result = match socket.try_send_to(payload, to) {
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => socket.send_to(payload, to).await,
        other => other,
    };
    if let Err(err) = result {
        debug!(%err, "media socket write");
    }
}

//! The media thread: the UDP socket, the ICE-TCP listener (if any), the
//! command channel and the clock around the sans-IO [`Engine`]. Kept thin
//! on purpose: everything worth testing is in the engine.
//!
//! ICE-TCP (RFC 6544): members whose UDP is blocked connect to the
//! server's passive TCP candidate; each connection carries STUN, DTLS and
//! SRTP as frames with a 2-byte length in front (RFC 4571). Each frame
//! goes to the engine as a datagram would, tagged TCP; what the engine
//! sends back to that address goes out framed on the same connection.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tracing::{debug, error, warn};

use super::engine::{Command, Engine};
use crate::media::{MediaEvent, MediaStats};
use std::sync::atomic::Ordering;

/// Datagrams read before the engine's output is sent and its deadline
/// looked at again: bounds latency under load while amortising the loop.
const READ_BATCH: usize = 64;
/// Largest datagram read; anything longer is not WebRTC media and is cut
/// (then refused by the peer connection).
const MAX_DATAGRAM: usize = 2048;
/// How long to sleep when the engine has no deadline.
const IDLE: Duration = Duration::from_secs(3600);
/// ICE-TCP connections at once, from one address and in all: a member
/// needs two (pub and sub); the rest of the budget is for NATs that put
/// several members behind one address.
const MAX_TCP_PER_IP: usize = 8;
const MAX_TCP: usize = 512;
/// An ICE-TCP connection that sends no frame for this long is closed: a
/// live one carries consent checks every few seconds (RFC 7675), so this
/// only ends half-open connections and silent squatters.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Frames queued for one ICE-TCP connection before more are dropped (as
/// a full UDP buffer drops datagrams).
const TCP_QUEUE: usize = 512;

/// What ICE-TCP connections hand the engine loop.
enum TcpIn {
    /// One RFC 4571 frame from `from`.
    Frame { from: SocketAddr, data: Vec<u8> },
    /// The connection from `from` is over.
    Closed { from: SocketAddr },
}

/// The writing halves of the open ICE-TCP connections, by peer address.
type TcpWriters = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>;

/// Starts the media thread.
pub(crate) fn spawn(
    socket: StdUdpSocket,
    tcp: Option<StdTcpListener>,
    engine: Engine,
    commands: UnboundedReceiver<Command>,
    events: UnboundedSender<MediaEvent>,
    stats: Arc<MediaStats>,
) -> io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    thread::Builder::new()
        .name("sotto-media".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let tcp = match tcp.map(TcpListener::from_std).transpose() {
                    Ok(tcp) => tcp,
                    Err(err) => {
                        error!(%err, "ICE-TCP listener unusable");
                        return;
                    }
                };
                match UdpSocket::from_std(socket) {
                    Ok(socket) => run(socket, tcp, engine, commands, events, stats).await,
                    Err(err) => error!(%err, "media socket unusable"),
                }
            });
        })
}

async fn run(
    socket: UdpSocket,
    tcp: Option<TcpListener>,
    mut engine: Engine,
    mut commands: UnboundedReceiver<Command>,
    events: UnboundedSender<MediaEvent>,
    stats: Arc<MediaStats>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut stopping = false;
    let writers: TcpWriters = Arc::default();
    let (tcp_tx, mut tcp_rx) = mpsc::channel::<TcpIn>(4096);
    let with_tcp = tcp.is_some();
    if let Some(listener) = tcp {
        tokio::spawn(accept(listener, Arc::clone(&writers), tcp_tx, stats));
    }
    loop {
        while let Some(t) = engine.poll_transmit() {
            if t.tcp {
                send_tcp(&writers, &t.payload, t.destination);
            } else {
                send(&socket, &t.payload, t.destination).await;
            }
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
            Some(input) = tcp_rx.recv(), if with_tcp => match input {
                TcpIn::Frame { from, data } => {
                    let local = engine.local_tcp_for(from).unwrap_or(from);
                    engine.handle_tcp_frame(Instant::now(), from, local, &data);
                }
                TcpIn::Closed { from } => debug!(%from, "ICE-TCP connection closed"),
            },
            () = tokio::time::sleep_until(deadline.into()) => engine.handle_timeout(Instant::now()),
        }
    }
}

/// Accepts ICE-TCP connections within the limits; each gets a reader and
/// a writer task.
async fn accept(
    listener: TcpListener,
    writers: TcpWriters,
    to_engine: mpsc::Sender<TcpIn>,
    stats: Arc<MediaStats>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(err) => {
                // Out of descriptors, usually: wait rather than spin.
                warn!(%err, "ICE-TCP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tx, rx) = mpsc::channel(TCP_QUEUE);
        {
            let Ok(mut open) = writers.lock() else { return };
            let same_ip = open.keys().filter(|a| a.ip() == from.ip()).count();
            if open.len() >= MAX_TCP || same_ip >= MAX_TCP_PER_IP {
                debug!(%from, "ICE-TCP connection refused: too many");
                stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            open.insert(from, tx);
            stats
                .tcp_connections
                .store(open.len() as u64, Ordering::Relaxed);
        }
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            from,
            rx,
            Arc::clone(&writers),
            to_engine.clone(),
            Arc::clone(&stats),
        ));
    }
}

/// One ICE-TCP connection: frames in to the engine, frames out from its
/// queue, until either side ends, a frame is malformed, or it idles.
async fn connection(
    stream: TcpStream,
    from: SocketAddr,
    mut out: mpsc::Receiver<Vec<u8>>,
    writers: TcpWriters,
    to_engine: mpsc::Sender<TcpIn>,
    stats: Arc<MediaStats>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(frame) = out.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    loop {
        match tokio::time::timeout(TCP_IDLE, read_frame(&mut rd)).await {
            Ok(Ok(data)) => {
                if to_engine.send(TcpIn::Frame { from, data }).await.is_err() {
                    break;
                }
            }
            Ok(Err(err)) => {
                debug!(%from, %err, "ICE-TCP connection ends");
                break;
            }
            Err(_) => {
                debug!(%from, "ICE-TCP connection idle: closed");
                break;
            }
        }
    }
    if let Ok(mut open) = writers.lock() {
        open.remove(&from);
        stats
            .tcp_connections
            .store(open.len() as u64, Ordering::Relaxed);
    }
    writer.abort();
    let _ = to_engine.send(TcpIn::Closed { from }).await;
}

/// Reads one RFC 4571 frame: a 2-byte big-endian length, then that many
/// bytes. An empty frame or one longer than a datagram the SFU reads is
/// an error (the connection is closed: nothing WebRTC sends is either).
async fn read_frame(rd: &mut (impl AsyncReadExt + Unpin)) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    rd.read_exact(&mut len).await?;
    let n = frame_length(len)?;
    let mut data = vec![0u8; n];
    rd.read_exact(&mut data).await?;
    Ok(data)
}

/// The length of a frame from its 2-byte header, if acceptable.
pub(crate) fn frame_length(header: [u8; 2]) -> io::Result<usize> {
    let n = usize::from(u16::from_be_bytes(header));
    if n == 0 || n > MAX_DATAGRAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("an RFC 4571 frame of {n} bytes"),
        ));
    }
    Ok(n)
}

/// Queues `payload`, framed, on the connection from `to`; dropped if
/// there is none or its queue is full.
fn send_tcp(writers: &TcpWriters, payload: &[u8], to: SocketAddr) {
    let Ok(len) = u16::try_from(payload.len()) else {
        return;
    };
    let Some(tx) = writers.lock().ok().and_then(|w| w.get(&to).cloned()) else {
        return;
    };
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    let _ = tx.try_send(frame);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_refused_when_empty_or_longer_than_a_datagram() {
        assert_eq!(frame_length([0, 1]).expect("one byte"), 1);
        assert_eq!(frame_length([0x08, 0x00]).expect("2048"), MAX_DATAGRAM);
        for bad in [[0, 0], [0x08, 0x01], [0xff, 0xff]] {
            assert!(frame_length(bad).is_err(), "{bad:?}");
        }
    }

    /// Bytes that stop mid-frame, or a length the limits refuse, end the
    /// connection with an error and never hand the engine a frame.
    #[tokio::test]
    async fn truncated_and_oversize_frames_end_the_read() {
        let mut ok: &[u8] = &[0, 3, 1, 2, 3];
        assert_eq!(read_frame(&mut ok).await.expect("a frame"), vec![1, 2, 3]);
        for bad in [&[0u8, 5, 1, 2][..], &[0], &[0xff, 0xff, 0], &[0, 0, 9]] {
            let mut r: &[u8] = bad;
            assert!(read_frame(&mut r).await.is_err(), "{bad:?}");
        }
    }
}

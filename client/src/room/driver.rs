//! The task behind a [`Room`](super::Room): connections one after the
//! other, with backoff between them (spec §4.5).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rand::RngExt;
use sotto_crypto::admission::RoomSecret;
use tokio::sync::mpsc;

use super::connection::{Connection, Outcome};
use super::{Command, Ended, Event, JoinOptions};

/// First delay before joining again (spec §4.5).
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest delay.
const BACKOFF_MAX: Duration = Duration::from_secs(10);

pub(super) struct Driver {
    options: JoinOptions,
    secret: Option<RoomSecret>,
    events: mpsc::UnboundedSender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl Driver {
    pub(super) fn new(
        options: JoinOptions,
        secret: Option<RoomSecret>,
        events: mpsc::UnboundedSender<Event>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Self {
        Driver {
            options,
            secret,
            events,
            commands,
        }
    }

    pub(super) async fn run(mut self) -> Ended {
        let mut backoff = BACKOFF_START;
        let mut was_member = false;
        loop {
            let bind = match &self.options.bind {
                Some(b) => b.clone(),
                None => route_to(&self.options.link.websocket_url()).await,
            };
            let outcome = Connection::new(
                &self.options,
                self.secret.as_ref(),
                bind,
                &self.events,
                &mut self.commands,
            )
            .run()
            .await;
            let reason = match outcome {
                Outcome::Ended(e) => return e,
                Outcome::Lost {
                    reason,
                    was_member: member,
                } => {
                    if member {
                        backoff = BACKOFF_START;
                        was_member = true;
                    }
                    reason
                }
                Outcome::Unreachable(reason) if !was_member => {
                    return Ended::Unreachable(reason);
                }
                Outcome::Unreachable(reason) => reason,
            };
            if !self.options.reconnect {
                return Ended::Lost(reason);
            }
            // Jitter of ±25 %, so that a room that lost its server does not
            // come back all at once.
            let factor = rand::rng().random_range(0.75..1.25);
            let after = backoff.mul_f64(factor);
            let _ = self.events.send(Event::Reconnecting { after, reason });
            let sleep = tokio::time::sleep(after);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    cmd = self.commands.recv() => match cmd {
                        Some(Command::Leave) | None => return Ended::Left,
                        Some(Command::HeldKeys(tx)) => { let _ = tx.send(Vec::new()); }
                        Some(_) => {}
                    },
                }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// The local address that routes to the host of `url`: media sockets are
/// bound to it alone (a wildcard would skip loopback, see FACTS.md).
async fn route_to(url: &str) -> Vec<IpAddr> {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or_default();
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else if url.starts_with("wss://") {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    let Ok(mut addrs) = tokio::net::lookup_host(with_port).await else {
        return Vec::new();
    };
    let Some(remote) = addrs.next() else {
        return Vec::new();
    };
    let local = if remote.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    };
    let Ok(socket) = std::net::UdpSocket::bind((local, 0)) else {
        return Vec::new();
    };
    // A UDP "connect" sends nothing; it only asks the kernel for a route.
    if socket.connect(remote).is_err() {
        return Vec::new();
    }
    socket
        .local_addr()
        .map(|a| vec![a.ip()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_servers_are_reached_from_loopback() {
        assert_eq!(
            route_to("ws://127.0.0.1:8080/ws").await,
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
        assert_eq!(
            route_to("ws://localhost:9/ws")
                .await
                .first()
                .map(|ip| ip.is_loopback()),
            Some(true)
        );
    }
}

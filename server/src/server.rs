//! Startup and shutdown: binds the listener (TLS or not), wires signalling
//! to the media plane, serves until told to stop, then closes every
//! connection in order (spec §5 `shutting_down`).

mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::http::{self, AppState, PeerAddr};
use crate::media::{MediaEvent, MediaPlane, MediaStats, NoMedia};
use crate::metrics::Metrics;
use crate::rooms::Rooms;
use crate::signal::Signalling;
use crate::signal::connections::Connections;
use sotto_proto::delivery::RoomSettings;

/// The media plane as signalling sees it: calls go to `plane`, events come
/// back on `events`, counters are read from `stats`.
pub struct Media {
    /// The SFU (or [`NoMedia`]).
    pub plane: Arc<dyn MediaPlane>,
    /// Events from the SFU; signalling owns the receiving end.
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    /// Counters the SFU keeps, shown at `/metrics`.
    pub stats: Arc<MediaStats>,
}

impl Media {
    /// The event channel: the SFU is built with the sender, [`Media`]
    /// takes the receiver.
    pub fn channel() -> (
        mpsc::UnboundedSender<MediaEvent>,
        mpsc::UnboundedReceiver<MediaEvent>,
    ) {
        mpsc::unbounded_channel()
    }

    /// The SFU, bound as `config` says: the UDP port on the listen address
    /// (every interface if that is unspecified), announcing the public IPs.
    pub fn sfu(config: &Config) -> Result<Media, crate::sfu::SfuError> {
        Media::start_sfu(config, crate::sfu::Sfu::start)
    }

    /// [`Media::sfu`] with a cheat on the forwarding path (tests only).
    #[cfg(feature = "test-tamper")]
    pub fn sfu_tampering(
        config: &Config,
        tamper: crate::sfu::tamper::Tamper,
    ) -> Result<Media, crate::sfu::SfuError> {
        Media::start_sfu(config, move |c, e, s| {
            crate::sfu::Sfu::start_tampering(c, e, s, tamper)
        })
    }

    fn start_sfu(
        config: &Config,
        start: impl FnOnce(
            crate::sfu::SfuConfig,
            mpsc::UnboundedSender<MediaEvent>,
            Arc<MediaStats>,
        ) -> Result<crate::sfu::Sfu, crate::sfu::SfuError>,
    ) -> Result<Media, crate::sfu::SfuError> {
        let (events_tx, events) = Media::channel();
        let stats = Arc::new(MediaStats::default());
        let sfu = start(
            crate::sfu::SfuConfig {
                udp_bind: SocketAddr::new(config.listen.ip(), config.media.udp_port),
                candidate_ips: config.media.public_ips.clone(),
                tcp_port: config.media.tcp_port,
            },
            events_tx,
            stats.clone(),
        )?;
        Ok(Media {
            plane: Arc::new(sfu),
            events,
            stats,
        })
    }

    /// No media plane: signalling only.
    pub fn none() -> Media {
        let (_, events) = Media::channel();
        Media {
            plane: Arc::new(NoMedia),
            events,
            stats: Arc::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// A configured public origin is not an origin.
    #[error("public origin: {0}")]
    Origin(#[from] http::BadOrigin),
}

/// A bound server, ready to run.
pub struct Server {
    listener: Listener,
    local_addr: SocketAddr,
    /// `/metrics` on its own listener (`--metrics-listen`).
    metrics: Option<(TcpListener, SocketAddr)>,
    state: AppState,
    media_events: mpsc::UnboundedReceiver<MediaEvent>,
    stop: watch::Sender<bool>,
    open: watch::Sender<usize>,
}

enum Listener {
    Plain(TcpListener),
    Tls(tls::TlsListener),
}

impl Server {
    /// Binds `config.listen` and prepares to serve.
    pub async fn bind(config: &Config, media: Media) -> Result<Server, StartError> {
        let tcp = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = tcp.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let bind_error = |source| StartError::Bind { addr, source };
                let tcp = TcpListener::bind(addr).await.map_err(bind_error)?;
                let local = tcp.local_addr().map_err(bind_error)?;
                Some((tcp, local))
            }
            None => None,
        };
        let listener = match &config.tls {
            Some(files) => Listener::Tls(tls::TlsListener::new(tcp, tls::server_config(files)?)),
            None => Listener::Plain(tcp),
        };
        let settings = Arc::new(RoomSettings {
            limits: config.limits.announced(),
            ice_servers: config.ice_servers.clone(),
        });
        let rooms = Arc::new(
            Rooms::new(
                settings,
                config.limits.max_waiting,
                config.limits.max_rooms,
                media.plane,
                Arc::new(Metrics::default()),
            )
            .with_turn(config.turn_rest.clone()),
        );
        let (stop, stopping) = watch::channel(false);
        let (open, _) = watch::channel(0);
        let signalling = Arc::new(Signalling {
            rooms,
            limits: config.limits,
            timing: config.timing,
            stopping,
            open: open.clone(),
            connections: Arc::new(Connections::new(
                config.limits.max_connections,
                config.limits.max_connections_per_ip,
            )),
        });
        Ok(Server {
            listener,
            local_addr,
            metrics,
            state: AppState {
                signalling,
                media_stats: media.stats,
                origins: Arc::new(http::AllowedOrigins::new(&config.public_origins)?),
                tls: config.tls.is_some(),
            },
            media_events: media.events,
            stop,
            open,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address `/metrics` is served on, if it has a listener of its
    /// own (useful with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Whether the server speaks TLS itself.
    pub fn is_tls(&self) -> bool {
        matches!(self.listener, Listener::Tls(_))
    }

    /// Serves until `shutdown` completes, then tells every participant
    /// `shutting_down`, closes their sockets (1001) and returns once they
    /// are closed or the grace period is over.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            listener,
            local_addr: _,
            metrics,
            state,
            mut media_events,
            stop,
            open,
        } = self;
        let rooms = state.signalling.rooms.clone();
        let grace = state.signalling.timing.shutdown_grace;
        let events_rooms = rooms.clone();
        let events = tokio::spawn(async move {
            while let Some(event) = media_events.recv().await {
                events_rooms.media_event(event);
            }
        });
        let app = http::router(state.clone(), metrics.is_none());
        let stopped_by = |stop: &watch::Sender<bool>| {
            let mut stopped = stop.subscribe();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let stopped_serving = stopped_by(&stop);
        let metrics_serving = metrics.map(|(tcp, _)| {
            let app = http::metrics_router(state);
            let stopped = stopped_by(&stop);
            tokio::spawn(async move { axum::serve(tcp, app).with_graceful_shutdown(stopped).await })
        });
        let serving = match listener {
            Listener::Plain(l) => tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<PeerAddr>();
                axum::serve(l, app)
                    .with_graceful_shutdown(stopped_serving)
                    .await
            }),
            Listener::Tls(l) => tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<PeerAddr>();
                axum::serve(l, app)
                    .with_graceful_shutdown(stopped_serving)
                    .await
            }),
        };

        shutdown.await;
        tracing::info!("shutting down");
        // Connections that have not joined are told by the switch; rooms
        // tell their participants, in order with everything else.
        stop.send_replace(true);
        rooms.shutdown();
        let mut open = open.subscribe();
        let closed = tokio::time::timeout(grace, open.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok());
        if !closed {
            tracing::warn!(
                open = *open.borrow(),
                "connections still open after the grace period"
            );
        }
        events.abort();
        if let Some(mut metrics_serving) = metrics_serving
            && tokio::time::timeout(grace, &mut metrics_serving)
                .await
                .is_err()
        {
            // A scrape that hangs: shutdown is bounded all the same.
            metrics_serving.abort();
        }
        match tokio::time::timeout(grace, serving).await {
            Ok(Ok(result)) => result,
            // The HTTP side did not wind down in time (a slow request):
            // exit anyway, shutdown must be bounded.
            Ok(Err(_)) | Err(_) => Ok(()),
        }
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tls::TlsListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

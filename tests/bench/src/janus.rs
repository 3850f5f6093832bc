//! Janus VideoRoom (Debian package `janus`), configured for 127.0.0.1 in a
//! generated config dir and driven over its plain JSON/HTTP API: a session,
//! a handle per publisher (`joinandconfigure` with the offer) and per
//! subscriber (`join` to every other feed, `start` with the answer), events
//! by long poll.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};
use webrtc::runtime::Runtime;

use crate::harness::{Options, Server, Step};
use crate::media::{Kind, Recorder, TrackCounters};
use crate::peer::{self, Handler};

/// The Janus binary.
pub const JANUS: &str = "/usr/bin/janus";
const LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";
const ROOM: u64 = 4242;

/// Writes a config dir for Janus with HTTP on 127.0.0.1:`port`: only the
/// VideoRoom plugin and the HTTP transport, ICE on `ice_ip` only.
pub fn write_config(dir: &Path, port: u16, ice_ip: std::net::IpAddr) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let d = dir.display();
    // SOTTO_BENCH_JANUS_DEBUG=5 shows Janus's ICE and DTLS in janus.log.
    let debug: u8 = std::env::var("SOTTO_BENCH_JANUS_DEBUG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let main = format!(
        r#"general: {{
	configs_folder = "{d}"
	plugins_folder = "{LIB}/plugins"
	transports_folder = "{LIB}/transports"
	events_folder = "{LIB}/events"
	loggers_folder = "{LIB}/loggers"
	debug_level = {debug}
	session_timeout = 120
}}
certificates: {{
}}
media: {{
	rtp_port_range = "30000-60000"
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "{ice_ip}"
	ignore_mdns = true
}}
plugins: {{
	disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
}}
transports: {{
	disable = "libjanus_websockets.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
events: {{
	broadcast = false
}}
"#
    );
    std::fs::write(dir.join("janus.jcfg"), main)?;
    std::fs::write(
        dir.join("janus.transport.http.jcfg"),
        format!(
            "general: {{\n\tjson = \"plain\"\n\tbase_path = \"/janus\"\n\thttp = true\n\tport = {port}\n\tip = \"127.0.0.1\"\n\thttps = false\n}}\nadmin: {{\n\tadmin_http = false\n\tadmin_https = false\n}}\n"
        ),
    )?;
    std::fs::write(dir.join("janus.plugin.videoroom.jcfg"), "general: {\n}\n")?;
    Ok(dir.join("janus.jcfg"))
}

/// This host's primary IPv4 address (the source of its default route),
/// or 127.0.0.1.
fn host_ipv4() -> std::net::IpAddr {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            // No datagram is sent: connecting a UDP socket only picks a route.
            s.connect("203.0.113.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// One HTTP/1.1 exchange (`Connection: close`): the response body as JSON.
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").context("no HTTP header end")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    serde_json::from_str(&body).with_context(|| format!("not JSON: {body:.200}"))
}

/// The body of a chunked transfer.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

static TRANSACTION: AtomicU64 = AtomicU64::new(1);

fn tx() -> String {
    format!("t{}", TRANSACTION.fetch_add(1, Ordering::Relaxed))
}

/// A Janus session with a long-poll task that routes events to handles.
struct Session {
    addr: SocketAddr,
    id: u64,
    routes: Arc<Mutex<HashMap<u64, UnboundedSender<Value>>>>,
    stop: Arc<AtomicBool>,
}

impl Session {
    async fn create(addr: SocketAddr) -> Result<Session> {
        let r = http(
            addr,
            "POST",
            "/janus",
            Some(&json!({"janus":"create","transaction":tx()})),
        )
        .await?;
        let id = r["data"]["id"]
            .as_u64()
            .with_context(|| format!("create: {r}"))?;
        let routes: Arc<Mutex<HashMap<u64, UnboundedSender<Value>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (routes, stop) = (routes.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(v) = http(addr, "GET", &format!("/janus/{id}?maxev=50"), None).await
                    else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let events = match v {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for e in events {
                        if let Some(sender) = e["sender"].as_u64() {
                            let routes = routes.lock().unwrap_or_else(|e| e.into_inner());
                            if let Some(r) = routes.get(&sender) {
                                let _ = r.send(e);
                            }
                        }
                    }
                }
            });
        }
        Ok(Session {
            addr,
            id,
            routes,
            stop,
        })
    }

    async fn attach(&self) -> Result<(u64, UnboundedReceiver<Value>)> {
        let r = http(
            self.addr,
            "POST",
            &format!("/janus/{}", self.id),
            Some(&json!({"janus":"attach","plugin":"janus.plugin.videoroom","transaction":tx()})),
        )
        .await?;
        let h = r["data"]["id"]
            .as_u64()
            .with_context(|| format!("attach: {r}"))?;
        let (t, rx) = unbounded_channel();
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(h, t);
        Ok((h, rx))
    }

    async fn message(&self, handle: u64, body: Value, jsep: Option<Value>) -> Result<Value> {
        let mut m = json!({"janus":"message","transaction":tx(),"body":body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        http(
            self.addr,
            "POST",
            &format!("/janus/{}/{handle}", self.id),
            Some(&m),
        )
        .await
    }

    /// Sends each candidate `candidates` yields as a trickle.
    fn trickle(&self, handle: u64, mut candidates: UnboundedReceiver<String>) {
        let (addr, id) = (self.addr, self.id);
        tokio::spawn(async move {
            let debug = std::env::var_os("SOTTO_BENCH_JANUS_DEBUG").is_some();
            // Gathering on loopback is quick: end of candidates after 1 s of silence.
            while let Ok(Some(c)) =
                tokio::time::timeout(Duration::from_secs(1), candidates.recv()).await
            {
                if debug {
                    eprintln!("handle {handle}: trickle {c}");
                }
                let m = json!({"janus":"trickle","transaction":tx(),"candidate":{"candidate":c,"sdpMid":"0","sdpMLineIndex":0}});
                let _ = http(addr, "POST", &format!("/janus/{id}/{handle}"), Some(&m)).await;
            }
            let m = json!({"janus":"trickle","transaction":tx(),"candidate":{"completed":true}});
            let _ = http(addr, "POST", &format!("/janus/{id}/{handle}"), Some(&m)).await;
        });
    }
}

/// The next event with a JSEP on `rx`, within 15 s.
async fn jsep_event(rx: &mut UnboundedReceiver<Value>, what: &str) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .with_context(|| format!("no {what} from Janus in 15 s"))?
            .context("event channel closed")?;
        if e["jsep"]["sdp"].is_string() {
            return Ok(e);
        }
        if let Some(err) = e["plugindata"]["data"]["error"].as_str() {
            bail!("Janus refused {what}: {err}");
        }
    }
}

type Teardown = Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;

/// Starts Janus and the step's participants.
pub async fn start(
    step: &Step,
    opts: &Options,
    recorder: &Arc<Recorder>,
    stop: &Arc<AtomicBool>,
    runtime: &Arc<dyn Runtime>,
) -> Result<(
    Server,
    Vec<(u16, Kind, Arc<TrackCounters>)>,
    Teardown,
    String,
)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = std::env::temp_dir().join(format!("sotto-bench-janus-{}", std::process::id()));
    // Janus's ICE (libnice) gathers no loopback candidate even with
    // `ice_enforce_list = "lo"` (measured: it offered only eth0's
    // addresses), so Janus and its peers use this host's own IPv4 address,
    // which Linux delivers through the loopback device all the same.
    let ip = host_ipv4();
    let config = write_config(&dir, port, ip)?;
    let args = vec![
        "-C".to_owned(),
        config.display().to_string(),
        "-F".to_owned(),
        dir.display().to_string(),
        "-N".to_owned(),
        "-L".to_owned(),
        dir.join("janus.log").display().to_string(),
    ];
    let server = Server::spawn(Path::new(JANUS), &args, opts.server_core)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if http(addr, "GET", "/janus/info", None).await.is_ok() {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "Janus did not answer on {addr} (log: {})",
                dir.join("janus.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let session = Arc::new(Session::create(addr).await?);
    let (admin, _admin_rx) = session.attach().await?;
    let r = session
        .message(
            admin,
            json!({"request":"create","room":ROOM,"publishers":256,"bitrate":0,"fir_freq":0,
                   "audiocodec":"opus","videocodec":"vp8","notify_joining":false}),
            None,
        )
        .await?;
    if r["plugindata"]["data"]["videoroom"] != "created" {
        bail!("room not created: {r}");
    }
    let feed = |p: usize| 1000 + p as u64;
    let mut pcs: Vec<Arc<dyn PeerConnection>> = Vec::new();
    let mut tracks = Vec::new();
    let mut local_tracks = Vec::new();
    let mut publisher_up = Vec::new();
    for p in 0..step.publishers {
        let (h, mut rx) = session.attach().await?;
        let (ct, cr) = unbounded_channel();
        let connected = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(Handler {
            subscriber: p as u32,
            recorder: recorder.clone(),
            runtime: runtime.clone(),
            connected: connected.clone(),
            candidates: Some(ct),
        });
        let pc = peer::build_pc(runtime.clone(), handler, ip).await?;
        let (sdp, t) = peer::add_tracks(&pc, p as u16, &step.kinds).await?;
        session
            .message(
                h,
                json!({"request":"joinandconfigure","ptype":"publisher","room":ROOM,"id":feed(p),
                       "display":format!("p{p}"),"audio":true,"video":true}),
                Some(json!({"type":"offer","sdp":sdp})),
            )
            .await?;
        session.trickle(h, cr);
        let e = jsep_event(&mut rx, "publisher answer").await?;
        let answer = e["jsep"]["sdp"].as_str().unwrap_or_default().to_owned();
        if std::env::var_os("SOTTO_BENCH_JANUS_DEBUG").is_some() {
            eprintln!("offer:\n{sdp}\nanswer:\n{answer}");
        }
        pc.set_remote_description(RTCSessionDescription::answer(answer)?)
            .await?;
        for (lt, _) in t {
            peer::watch_keyframe_requests(runtime, &lt);
            tracks.push((p as u16, lt.kind, lt.counters.clone()));
            local_tracks.push((p as u16, lt));
        }
        publisher_up.push(connected);
        pcs.push(pc);
    }
    // VideoRoom knows a feed only once its PeerConnection is up.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !publisher_up.iter().all(|c| c.load(Ordering::SeqCst)) {
        if std::time::Instant::now() > deadline {
            bail!(
                "{} of {} publishers connected to Janus in 20 s",
                publisher_up
                    .iter()
                    .filter(|c| c.load(Ordering::SeqCst))
                    .count(),
                publisher_up.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (p, lt) in &local_tracks {
        peer::start_sending(runtime, lt, *p, recorder.clone(), stop.clone());
    }
    let total = step.publishers + step.listeners;
    for s in 0..total {
        if s < step.publishers && !step.publishers_subscribe {
            continue;
        }
        let streams: Vec<Value> = (0..step.publishers)
            .filter(|&p| p != s)
            .map(|p| json!({"feed": feed(p)}))
            .collect();
        let (h, mut rx) = session.attach().await?;
        session
            .message(
                h,
                json!({"request":"join","ptype":"subscriber","room":ROOM,"streams":streams}),
                None,
            )
            .await?;
        let e = jsep_event(&mut rx, "subscriber offer").await?;
        let offer = e["jsep"]["sdp"].as_str().unwrap_or_default().to_owned();
        let (ct, cr) = unbounded_channel();
        let handler = Arc::new(Handler {
            subscriber: s as u32,
            recorder: recorder.clone(),
            runtime: runtime.clone(),
            connected: Arc::default(),
            candidates: Some(ct),
        });
        let pc = peer::build_pc(runtime.clone(), handler, ip).await?;
        pc.set_remote_description(RTCSessionDescription::offer(offer)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer).await?;
        let local = pc.local_description().await.context("no answer")?;
        session
            .message(
                h,
                json!({"request":"start","room":ROOM}),
                Some(json!({"type":"answer","sdp":local.sdp})),
            )
            .await?;
        session.trickle(h, cr);
        pcs.push(pc);
    }
    let teardown: Teardown = pcs
        .into_iter()
        .map(|pc| {
            Box::pin(async move {
                let _ = pc.close().await;
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        })
        .chain(std::iter::once(Box::pin(async move {
            session.stop.store(true, Ordering::Relaxed);
        })
            as std::pin::Pin<
                Box<dyn std::future::Future<Output = ()> + Send>,
            >))
        .collect();
    Ok((server, tracks, teardown, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
        assert_eq!(dechunk("zz\r\n"), "");
    }

    #[test]
    fn the_config_binds_http_to_loopback_and_ice_to_one_address() {
        let dir = std::env::temp_dir().join(format!("sotto-bench-cfg-test-{}", std::process::id()));
        let main = write_config(&dir, 18088, [10, 1, 2, 3].into()).expect("config");
        let text = std::fs::read_to_string(main).expect("read");
        assert!(text.contains("ice_enforce_list = \"10.1.2.3\""));
        let http = std::fs::read_to_string(dir.join("janus.transport.http.jcfg")).expect("read");
        assert!(http.contains("port = 18088") && http.contains("ip = \"127.0.0.1\""));
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! One rewrite of the server's `sub` offers before they are applied.
//!
//! The `webrtc` crate routes a received track's packets by its track id
//! (the second value of `a=msid`), per peer connection. The server names
//! tracks `a=msid:<participant> <source>` (spec §6), so two participants'
//! cameras would share the id `camera` and their packets would go to the
//! same track. Receivers name sections by their `mid` anyway (the `tracks`
//! list of the offer), so each section's track id is replaced with one made
//! from its mid, which is unique in the offer. This changes nothing on the
//! wire: track ids are local names.

const TAG: &str = "sotto-mid-";

/// The track id given to the section with `mid`.
pub fn track_id_for_mid(mid: &str) -> String {
    format!("{TAG}{mid}")
}

/// The mid of a section from the track id [`tag_tracks_with_mids`] gave it.
pub fn mid_from_track_id(track_id: &str) -> Option<&str> {
    track_id.strip_prefix(TAG)
}

/// Gives every media section's track the id `sotto-mid-<mid>`, adding an
/// `a=msid` line where a section has none.
pub fn tag_tracks_with_mids(sdp: &str) -> String {
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let lines: Vec<&str> = sdp.split(eol).collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 4);
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with("m=") {
            out.push(lines[i].to_owned());
            i += 1;
            continue;
        }
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with("m="))
            .unwrap_or(lines.len());
        let section = &lines[i..end];
        let mid = section.iter().find_map(|l| l.strip_prefix("a=mid:"));
        let Some(mid) = mid else {
            out.extend(section.iter().map(|l| (*l).to_owned()));
            i = end;
            continue;
        };
        let tag = track_id_for_mid(mid.trim());
        for line in section {
            if let Some(value) = line.strip_prefix("a=msid:") {
                let stream = value.split(' ').next().unwrap_or("-");
                out.push(format!("a=msid:{stream} {tag}"));
            } else if let Some((ssrc, stream)) = line
                .strip_prefix("a=ssrc:")
                .and_then(|v| v.split_once(" msid:"))
            {
                let stream = stream.split(' ').next().unwrap_or("-");
                out.push(format!("a=ssrc:{ssrc} msid:{stream} {tag}"));
            } else {
                out.push((*line).to_owned());
            }
            if line.starts_with("a=mid:") && !section.iter().any(|l| l.starts_with("a=msid:")) {
                out.push(format!("a=msid:- {tag}"));
            }
        }
        i = end;
    }
    out.join(eol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_are_named_after_their_sections() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=msid:kq4p mic\r\na=ssrc:11 cname:x\r\na=ssrc:11 msid:kq4p mic\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=msid:Xr7m camera\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ssrc:33 cname:y\r\na=mid:2\r\n";
        let out = tag_tracks_with_mids(sdp);
        assert!(out.contains("a=msid:kq4p sotto-mid-0\r\n"));
        assert!(out.contains("a=ssrc:11 msid:kq4p sotto-mid-0\r\n"));
        assert!(out.contains("a=ssrc:11 cname:x\r\n"));
        assert!(out.contains("a=msid:Xr7m sotto-mid-1\r\n"));
        assert!(out.contains("a=mid:2\r\na=msid:- sotto-mid-2\r\n"));
        assert!(out.starts_with("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"));
        assert!(out.ends_with("\r\n"));
        assert_eq!(mid_from_track_id("sotto-mid-1"), Some("1"));
        assert_eq!(mid_from_track_id("camera"), None);
    }

    #[test]
    fn sessions_without_media_are_unchanged() {
        let sdp = "v=0\r\ns=-\r\n";
        assert_eq!(tag_tracks_with_mids(sdp), sdp);
    }
}

//! A plain Ableton Link peer for the Rack tests (`tests/rack/link-netns.sh`): joins the session
//! at `BPM` and stays for `SECONDS`, printing the peers it sees.
//!
//! `link_peer BPM SECONDS` refuses to run unless its network namespace has only a loopback
//! interface: it is meant for the private namespace the tests create (`unshare -n`), never for
//! a real network.

use rusty_link::{AblLink, SessionState};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(bpm), Some(secs)) = (
        args.get(1).and_then(|a| a.parse::<f64>().ok()),
        args.get(2).and_then(|a| a.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: link_peer BPM SECONDS (inside a private network namespace only)");
        std::process::exit(2);
    };
    let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    let ifs: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    if ifs != ["lo"] {
        eprintln!("link_peer: not in a private network namespace (interfaces {ifs:?}): refusing");
        std::process::exit(1);
    }
    let link = AblLink::new(bpm);
    link.enable(true);
    let mut st = SessionState::new();
    let t0 = Instant::now();
    let mut seen = 0;
    while t0.elapsed() < Duration::from_secs_f64(secs) {
        // Keep the session at BPM (a peer joining may have brought its own tempo).
        link.capture_app_session_state(&mut st);
        if (st.tempo() - bpm).abs() > 1e-9 {
            st.set_tempo(bpm, link.clock_micros());
            link.commit_app_session_state(&st);
        }
        let peers = link.num_peers();
        if peers != seen {
            seen = peers;
            println!(
                "link_peer: {peers} peer(s) at {:.1} s",
                t0.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    link.enable(false);
}

//! `agentmesh top` in a real pseudo-terminal: it draws, opens help, survives an unreachable
//! node with a banner, quits on `q`, and leaves the terminal as it found it (alternate screen
//! left, raw mode off).

use crate::common;

use std::io::{Read as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ServeProcess, cmd};

struct Pty {
    master: std::fs::File,
    slave: OwnedFd,
}

fn open_pty(cols: u16, rows: u16) -> Pty {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds into the out-pointers; null name and termios are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just opened by openpty and are owned here alone.
    unsafe {
        Pty {
            master: std::fs::File::from_raw_fd(master),
            slave: OwnedFd::from_raw_fd(slave),
        }
    }
}

/// Runs `top` with `args` on a pty; the child, the master (to type into) and the screen bytes.
fn spawn_top(
    home: &std::path::Path,
    args: &[&str],
) -> (std::process::Child, std::fs::File, Arc<Mutex<Vec<u8>>>) {
    let pty = open_pty(100, 30);
    let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup slave"));
    let child = cmd(home)
        .args(args)
        .env("TERM", "xterm-256color")
        .stdin(io(&pty.slave))
        .stdout(io(&pty.slave))
        .stderr(io(&pty.slave))
        .spawn()
        .expect("spawn top");
    drop(pty.slave);
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut reader = pty.master.try_clone().expect("dup master");
    let sink = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        // Ends with EIO once the child and every slave fd are gone.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("screen").extend_from_slice(&buf[..n]);
        }
    });
    (child, pty.master, screen)
}

fn wait_for(screen: &Arc<Mutex<Vec<u8>>>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = String::from_utf8_lossy(&screen.lock().expect("screen")).to_string();
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared; screen so far:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(Instant::now() < deadline, "top did not quit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn top_draws_shows_help_quits_and_restores_the_terminal() {
    let home = tempfile::tempdir().expect("tmp");
    let serve = ServeProcess::start(home.path(), &[]);
    let (mut child, mut keys, screen) = spawn_top(
        home.path(),
        &["--node", &serve.url, "top", "--interval", "200ms"],
    );
    wait_for(&screen, "Agents 0/0");
    wait_for(&screen, &serve.node_id[serve.node_id.len() - 8..]);
    keys.write_all(b"?").expect("type");
    wait_for(&screen, " Keys ");
    keys.write_all(b"q").expect("type"); // closes help
    keys.write_all(b"q").expect("type"); // quits
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status}");
    let bytes = screen.lock().expect("screen").clone();
    let enter = find(&bytes, b"\x1b[?1049h").expect("entered the alternate screen");
    let leave = find(&bytes, b"\x1b[?1049l").expect("left the alternate screen");
    assert!(leave > enter);
}

#[test]
fn top_keeps_running_with_a_banner_while_the_node_is_unreachable() {
    let home = tempfile::tempdir().expect("tmp");
    let (mut child, mut keys, screen) = spawn_top(
        home.path(),
        &["--node", "http://127.0.0.1:9", "top", "--interval", "200ms"],
    );
    wait_for(&screen, "node unreachable");
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    keys.write_all(&[3]).expect("type Ctrl-C");
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status}");
    assert!(find(&screen.lock().expect("screen"), b"\x1b[?1049l").is_some());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

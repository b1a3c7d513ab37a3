//! A TCP relay in front of the credentials emulator that can stop listening for a while, so
//! that the receiver meets a real "connection refused", not an answer or a closed connection.
//!
//! It relays bytes only: the TLS session, client certificate included, runs end to end between
//! the receiver and the emulator, whose certificate names 127.0.0.1 whatever the port.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// How many times the relay tries to listen on its port again after a refusal.
const REBIND_ATTEMPTS: u32 = 50;

/// A running relay; dropping it stops it and every connection it carries.
pub struct Gate {
    addr: SocketAddr,
    refusing: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Gate {
    pub fn start(upstream: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the gate's runtime starts");
        let listener = runtime
            .block_on(listen("127.0.0.1:0".parse().expect("a socket address")))
            .expect("binding 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (refusing, state) = watch::channel(false);
        runtime.spawn(serve(listener, addr, upstream, state));
        Gate {
            addr,
            refusing,
            runtime: Some(runtime),
        }
    }

    /// `https://127.0.0.1:PORT`, the credentials endpoint to give the receiver.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops listening and cuts every relayed connection (`true`), or listens again.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.send_replace(refusing);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A listener that can take its port back while closed connections linger in TIME_WAIT.
async fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Accepts while open; while refusing, holds no listener, so the kernel refuses connections.
async fn serve(
    first: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut state: watch::Receiver<bool>,
) {
    let mut listener = Some(first);
    loop {
        let Some(open) = listener.take() else {
            // Closed: wait for the order to open again, then take the same port back.
            if state.wait_for(|refusing| !refusing).await.is_err() {
                return;
            }
            listener = rebind(addr).await;
            if listener.is_none() {
                return;
            }
            continue;
        };
        tokio::select! {
            accepted = open.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(relay(client, upstream, state.clone()));
                }
                listener = Some(open);
            }
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                // Refusing drops `open`, and with it the port.
                if !*state.borrow_and_update() {
                    listener = Some(open);
                }
            }
        }
    }
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..REBIND_ATTEMPTS {
        if let Ok(listener) = listen(addr).await {
            return Some(listener);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

/// Copies both ways until either side closes, or until the gate starts refusing.
async fn relay(mut client: TcpStream, upstream: SocketAddr, mut state: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = state.wait_for(|refusing| *refusing) => {
            let _ = client.set_zero_linger();
        }
    }
}

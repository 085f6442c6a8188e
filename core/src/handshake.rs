//! The handshake's decisions, without the socket: how large a frame an
//! unauthenticated peer may make us buffer, and whether a remote hello may
//! proceed to admission. The exchange itself (who writes and reads which
//! message, timeouts, replies) is the [`Session`](crate::session::Session)'s.

use crate::wire::{Hello, Reason};

/// Frame cap while the handshake runs: a v1 hello is 29 bytes; the margin
/// leaves room for a later version's longer hello to be read and answered
/// with `unsupported_version`. An unauthenticated peer can make us buffer no
/// more than this.
pub const MAX_HANDSHAKE_FRAME: u32 = 1024;

/// Why a remote hello is refused before admission: self-connection or
/// another network. `Ok` means the handshake may proceed to admission.
pub fn check_hello(local: &Hello, remote: &Hello) -> Result<(), Reason> {
    if remote.node_id == local.node_id {
        return Err(Reason::SelfConnection);
    }
    if remote.network_id != local.network_id {
        return Err(Reason::WrongNetwork);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeId;
    use crate::wire::PROTOCOL_VERSION;

    fn hello(id: u128, network_id: u32) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            network_id,
            node_id: NodeId(id),
            listen_port: 9000,
        }
    }

    /// Our own node id is a self-connection; another network is refused;
    /// anything else proceeds.
    #[test]
    fn hello_checks() {
        let me = hello(7, 1);
        assert_eq!(check_hello(&me, &hello(7, 1)), Err(Reason::SelfConnection));
        assert_eq!(check_hello(&me, &hello(8, 2)), Err(Reason::WrongNetwork));
        assert_eq!(check_hello(&me, &hello(8, 1)), Ok(()));
    }
}

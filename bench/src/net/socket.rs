//! Non-blocking TCP client sockets. Against a loopback server every connection is bound to a
//! source address 127.0.0.x with x cycling 1..=250 (IP_BIND_ADDRESS_NO_PORT, so the port is
//! picked at connect time per 4-tuple): connection counts are not capped by one address's
//! ephemeral port range.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Number of loopback source addresses cycled through (127.0.0.1 ..= 127.0.0.250).
pub const SOURCE_ADDRS: u8 = 250;

/// Round-robin over loopback source addresses; yields `None` when disabled.
#[derive(Clone, Debug)]
pub struct SourceCycle {
    enabled: bool,
    next: u8,
}

impl SourceCycle {
    /// Cycles 127.0.0.1..=250 when `enabled` (use it only for loopback targets).
    pub fn new(enabled: bool) -> Self {
        Self { enabled, next: 1 }
    }

    /// Next source address, or `None` to let the kernel choose.
    pub fn next_addr(&mut self) -> Option<Ipv4Addr> {
        if !self.enabled {
            return None;
        }
        let a = Ipv4Addr::new(127, 0, 0, self.next);
        self.next = if self.next >= SOURCE_ADDRS {
            1
        } else {
            self.next + 1
        };
        Some(a)
    }
}

/// Starts a non-blocking connect to `dst` from `src` (port chosen by the kernel). The
/// connection completes when the socket becomes writable; check [`Socket::take_error`] then.
pub fn connect(dst: SocketAddrV4, src: Option<Ipv4Addr>) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::IPV4,
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    s.set_tcp_nodelay(true)?;
    if let Some(src) = src {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to a live c_int of the given size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        s.bind(&SockAddr::from(SocketAddr::V4(SocketAddrV4::new(src, 0))))?;
    }
    match s.connect(&SockAddr::from(SocketAddr::V4(dst))) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(s),
        Err(e) => Err(e),
    }
}

/// Reads into `buf`; `Ok(0)` is EOF, `WouldBlock` means nothing to read.
#[inline]
pub fn read(s: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid writable region of buf.len() bytes.
    let r = unsafe { libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Writes from `buf` (MSG_NOSIGNAL: a closed peer is an error, not a signal).
#[inline]
pub fn write(s: &Socket, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid readable region of buf.len() bytes.
    let r = unsafe {
        libc::send(
            s.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_cycle_wraps() {
        let mut c = SourceCycle::new(true);
        assert_eq!(c.next_addr(), Some(Ipv4Addr::new(127, 0, 0, 1)));
        for _ in 0..249 {
            c.next_addr();
        }
        assert_eq!(c.next_addr(), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(SourceCycle::new(false).next_addr(), None);
    }

    #[test]
    fn connects_from_a_cycled_source() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dst = match l.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let s = connect(dst, Some(Ipv4Addr::new(127, 0, 0, 42))).unwrap();
        let (_peer, from) = l.accept().unwrap();
        assert_eq!(
            from.ip(),
            std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 42))
        );
        assert!(s.take_error().unwrap().is_none());
    }
}

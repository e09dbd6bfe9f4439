//! `dns:` — one query per run, sent straight to the resolver (no cache in between: a monitor
//! must see what the resolver says now).
//!
//! Messages are built and read by hickory-proto; the transport is a UDP datagram (asked again
//! over TCP when the answer is truncated) or a TCP connection with the 2-byte length prefix
//! of RFC 1035 §4.2.2.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use signalbox_config::{DnsProbeConfig, DnsProtocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Probe, ProbeError, ProbeResult, elapsed_ms, humanize};

/// Where the system's resolver is named.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// UDP answer size we advertise (EDNS0): the DNS flag day 2020 figure, safe from fragmentation.
const UDP_PAYLOAD: u16 = 1232;

/// `dns:` — asks one resolver for one name and record type.
#[derive(Debug, Clone)]
pub struct DnsProbe {
    name: Name,
    record_type: RecordType,
    /// `None`: the first `nameserver` of [`RESOLV_CONF`], read at each run.
    resolver: Option<SocketAddr>,
    protocol: DnsProtocol,
    timeout: Duration,
}

impl DnsProbe {
    /// A probe for `config`.
    pub fn new(config: &DnsProbeConfig) -> Result<DnsProbe, ProbeError> {
        let mut name = Name::from_utf8(&config.name)
            .map_err(|e| ProbeError::Dns(format!("name \"{}\": {e}", config.name)))?;
        // Names are absolute: a monitor does not apply search domains.
        name.set_fqdn(true);
        let record_type = RecordType::from_str(&config.record_type.to_ascii_uppercase())
            .map_err(|_| ProbeError::Dns(format!("record type \"{}\"", config.record_type)))?;
        let resolver = config
            .resolver_addr()
            .transpose()
            .map_err(ProbeError::Dns)?;
        Ok(DnsProbe {
            name,
            record_type,
            resolver,
            protocol: config.protocol,
            timeout: config.timeout,
        })
    }

    async fn exchange(&self, resolver: SocketAddr) -> Result<Message, String> {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(self.name.clone(), self.record_type));
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD);
        query.set_edns(edns);
        let bytes = query
            .to_vec()
            .map_err(|e| format!("encoding the query: {e}"))?;
        let id = query.metadata.id;
        if self.protocol == DnsProtocol::Udp {
            let answer = over_udp(resolver, &bytes, id).await?;
            if !answer.metadata.truncation {
                return Ok(answer);
            }
        }
        over_tcp(resolver, &bytes, id).await
    }
}

async fn over_udp(resolver: SocketAddr, query: &[u8], id: u16) -> Result<Message, String> {
    let local: SocketAddr = match resolver.ip() {
        IpAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        IpAddr::V6(_) => ([0u16; 8], 0).into(),
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp: {e}"))?;
    socket
        .connect(resolver)
        .await
        .map_err(|e| format!("udp: {e}"))?;
    socket.send(query).await.map_err(|e| format!("udp: {e}"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("udp: {e}"))?;
        // A stray or late datagram is not our answer; keep waiting (the run has a deadline).
        match Message::from_vec(&buf[..n]) {
            Ok(m) if m.metadata.id == id && m.metadata.message_type == MessageType::Response => {
                return Ok(m);
            }
            _ => continue,
        }
    }
}

async fn over_tcp(resolver: SocketAddr, query: &[u8], id: u16) -> Result<Message, String> {
    let mut stream = tokio::net::TcpStream::connect(resolver)
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    let length = u16::try_from(query.len()).map_err(|_| "query too long".to_owned())?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("tcp: {e}"))?;
    let length = stream.read_u16().await.map_err(|e| format!("tcp: {e}"))?;
    let mut buf = vec![0u8; usize::from(length)];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| format!("tcp: {e}"))?;
    let answer = Message::from_vec(&buf).map_err(|e| format!("unreadable answer: {e}"))?;
    if answer.metadata.id != id {
        return Err("answer does not match the query id".into());
    }
    Ok(answer)
}

/// The first `nameserver` of a resolv.conf text, port 53.
pub fn system_resolver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        // A link-local zone (`fe80::1%eth0`) cannot be kept in a SocketAddr; such a server is
        // skipped rather than asked on the wrong interface.
        words
            .next()?
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The usual mnemonic (`NOERROR`, `NXDOMAIN`, …) of a response code.
pub fn rcode_name(code: ResponseCode) -> String {
    match u16::from(code) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        16 => "BADVERS".into(),
        other => format!("RCODE{other}"),
    }
}

#[async_trait]
impl Probe for DnsProbe {
    async fn run(&self) -> ProbeResult {
        let started = Instant::now();
        let mut result = ProbeResult::default();
        let resolver = match self.resolver {
            Some(addr) => addr,
            None => match std::fs::read_to_string(RESOLV_CONF) {
                Ok(text) => match system_resolver(&text) {
                    Some(addr) => addr,
                    None => {
                        result.error = Some(format!("no usable nameserver in {RESOLV_CONF}"));
                        return result;
                    }
                },
                Err(e) => {
                    result.error = Some(format!("reading {RESOLV_CONF}: {e}"));
                    return result;
                }
            },
        };
        match tokio::time::timeout(self.timeout, self.exchange(resolver)).await {
            Ok(Ok(answer)) => {
                result.connected = true;
                result.dns_rcode = Some(rcode_name(answer.metadata.response_code));
                result.dns_answers = answer
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == self.record_type)
                    .map(|r| r.data.to_string())
                    .collect();
            }
            Ok(Err(error)) => result.error = Some(error),
            Err(_) => {
                result.error = Some(format!(
                    "no answer from {resolver} within {}",
                    humanize(self.timeout)
                ))
            }
        }
        result.response_time_ms = elapsed_ms(started);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hickory_proto::op::OpCode;
    use hickory_proto::rr::rdata::{A, CNAME, MX, TXT};
    use hickory_proto::rr::{RData, Record};

    use super::*;
    use crate::check::CompiledCheck;
    use crate::probe::HttpClients;

    /// Queries a test server answered, by transport.
    #[derive(Default)]
    struct Seen {
        udp: AtomicUsize,
        tcp: AtomicUsize,
    }

    /// The test zone. `big.example.test` is truncated over UDP, so only TCP gets its answer.
    fn answer(query: &Message, over_tcp: bool) -> Message {
        let mut response = Message::response(query.metadata.id, OpCode::Query);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        let q = query.queries[0].clone();
        let name = q.name().to_ascii();
        let record =
            |name: &str, data: RData| Record::from_rdata(Name::from_ascii(name).unwrap(), 60, data);
        response.add_query(q.clone());
        match (name.as_str(), q.query_type()) {
            ("www.example.test.", RecordType::A) => {
                response.add_answer(record(&name, RData::A(A::new(192, 0, 2, 10))));
                response.add_answer(record(&name, RData::A(A::new(192, 0, 2, 11))));
            }
            ("alias.example.test.", RecordType::A) => {
                let target = Name::from_ascii("www.example.test.").unwrap();
                response.add_answer(record(&name, RData::CNAME(CNAME(target))));
                response.add_answer(record("www.example.test.", RData::A(A::new(192, 0, 2, 10))));
            }
            ("example.test.", RecordType::MX) => {
                let exchange = Name::from_ascii("mail.example.test.").unwrap();
                response.add_answer(record(&name, RData::MX(MX::new(10, exchange))));
            }
            ("big.example.test.", RecordType::TXT) if !over_tcp => {
                response.metadata.truncation = true;
            }
            ("big.example.test.", RecordType::TXT) => {
                let txt = TXT::new(vec!["v=spf1 -all".to_owned()]);
                response.add_answer(record(&name, RData::TXT(txt)));
            }
            ("example.test.", _) | ("www.example.test.", _) => {}
            _ => response.metadata.response_code = ResponseCode::NXDomain,
        }
        response
    }

    /// A DNS server on 127.0.0.1, UDP and TCP on the same port.
    async fn serve_dns() -> (SocketAddr, Arc<Seen>) {
        let (udp, tcp) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let port = udp.local_addr().unwrap().port();
            // The TCP port may be taken by someone else: pick another pair then.
            if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let udp_seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                udp_seen.udp.fetch_add(1, Ordering::SeqCst);
                let query = Message::from_vec(&buf[..n]).unwrap();
                let bytes = answer(&query, false).to_vec().unwrap();
                udp.send_to(&bytes, from).await.unwrap();
            }
        });
        let tcp_seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                tcp_seen.tcp.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let length = stream.read_u16().await.unwrap();
                    let mut buf = vec![0u8; usize::from(length)];
                    stream.read_exact(&mut buf).await.unwrap();
                    let query = Message::from_vec(&buf).unwrap();
                    let bytes = answer(&query, true).to_vec().unwrap();
                    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
                    framed.extend_from_slice(&bytes);
                    stream.write_all(&framed).await.unwrap();
                });
            }
        });
        (addr, seen)
    }

    fn check(dns: &str, asserts: &[&str]) -> CompiledCheck {
        let mut yaml = format!("checks:\n  dns:\n    dns: {dns}\n    schedule: {{ every: 1m }}\n");
        if !asserts.is_empty() {
            yaml.push_str("    assert:\n");
            for a in asserts {
                yaml.push_str(&format!("      - '{a}'\n"));
            }
        }
        let loaded = signalbox_config::load_str(&yaml, Path::new("c.yaml"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let clients = HttpClients::new().unwrap();
        CompiledCheck::build("dns", &loaded.config.checks["dns"], "UTC", &clients).unwrap()
    }

    #[tokio::test]
    async fn answers_are_read_in_presentation_form() {
        let (addr, seen) = serve_dns().await;
        let a = check(
            &format!("{{ name: www.example.test, resolver: \"{addr}\" }}"),
            &[r#""192.0.2.10" in dns_answers && dns_answers.size() == 2"#],
        );
        assert_eq!(a.target, format!("dns://{addr}/www.example.test?type=A"));
        let outcome = a.run_once().await;
        assert!(outcome.success(), "{outcome:?}");
        assert_eq!(outcome.result.dns_answers, ["192.0.2.10", "192.0.2.11"]);
        assert_eq!(outcome.result.dns_rcode.as_deref(), Some("NOERROR"));
        assert!(outcome.result.connected);

        let mx = check(
            &format!("{{ name: example.test., type: mx, resolver: \"{addr}\", protocol: tcp }}"),
            &[],
        )
        .run_once()
        .await;
        assert!(mx.success(), "{mx:?}");
        assert_eq!(mx.result.dns_answers, ["10 mail.example.test."]);
        assert_eq!(seen.tcp.load(Ordering::SeqCst), 1);

        // Only records of the asked type: the CNAME that leads to them is left out.
        let alias = check(
            &format!("{{ name: alias.example.test, resolver: \"{addr}\" }}"),
            &[],
        )
        .run_once()
        .await;
        assert_eq!(alias.result.dns_answers, ["192.0.2.10"]);
    }

    #[tokio::test]
    async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
        let (addr, seen) = serve_dns().await;
        let txt = check(
            &format!("{{ name: big.example.test, type: TXT, resolver: \"{addr}\" }}"),
            &[r#"dns_answers.exists(t, t.startsWith("v=spf1"))"#],
        )
        .run_once()
        .await;
        assert!(txt.success(), "{txt:?}");
        assert_eq!(seen.udp.load(Ordering::SeqCst), 1);
        assert_eq!(seen.tcp.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn default_rule_needs_noerror_and_an_answer() {
        let (addr, _) = serve_dns().await;
        let nx = check(
            &format!("{{ name: nope.example.test, resolver: \"{addr}\" }}"),
            &[],
        )
        .run_once()
        .await;
        assert_eq!(nx.result.dns_rcode.as_deref(), Some("NXDOMAIN"));
        assert!(nx.result.connected);
        let failure = nx.failure.unwrap();
        assert_eq!(failure.assertion, None);
        assert_eq!(failure.reason, "answer NXDOMAIN");

        let empty = check(
            &format!("{{ name: www.example.test, type: AAAA, resolver: \"{addr}\" }}"),
            &[],
        )
        .run_once()
        .await;
        assert_eq!(empty.result.dns_rcode.as_deref(), Some("NOERROR"));
        assert_eq!(
            empty.failure.unwrap().reason,
            "the answer has no records of the asked type"
        );
        // An assertion can ask for the absence instead.
        let absent = check(
            &format!("{{ name: nope.example.test, resolver: \"{addr}\" }}"),
            &[r#"dns_rcode == "NXDOMAIN""#],
        )
        .run_once()
        .await;
        assert!(absent.success(), "{absent:?}");
    }

    #[tokio::test]
    async fn a_silent_resolver_times_out() {
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let r = check(
            &format!("{{ name: www.example.test, resolver: \"{addr}\", timeout: 200ms }}"),
            &[],
        )
        .run_once()
        .await;
        assert!(!r.result.connected);
        assert_eq!(
            r.failure.unwrap().reason,
            format!("no answer from {addr} within 200ms")
        );
        drop(silent);
    }

    #[test]
    fn the_system_resolver_is_the_first_usable_nameserver() {
        let conf = "# generated\nsearch example.test\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        assert_eq!(system_resolver(conf), Some("10.0.0.2:53".parse().unwrap()));
        assert_eq!(
            system_resolver("nameserver ::1\n"),
            Some("[::1]:53".parse().unwrap())
        );
        assert_eq!(system_resolver("search x\n"), None);
    }

    #[test]
    fn response_codes_have_their_mnemonics() {
        assert_eq!(rcode_name(ResponseCode::NoError), "NOERROR");
        assert_eq!(rcode_name(ResponseCode::ServFail), "SERVFAIL");
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::Refused), "REFUSED");
        assert_eq!(rcode_name(ResponseCode::Unknown(23)), "RCODE23");
    }
}

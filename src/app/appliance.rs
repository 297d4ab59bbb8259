//! The appliance's id in the archive's keys: `--appliance-id`, else on EC2 the instance ID
//! from IMDSv2, else the host name. The metadata service is asked only when the machine's
//! DMI says it is an EC2 instance, so a lab machine never sends a packet to 169.254.169.254.
#![forbid(unsafe_code)]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const IMDS: &str = "169.254.169.254:80";
const TIMEOUT: Duration = Duration::from_secs(2);

/// The id to use: `given`, else the instance ID, else the host name (characters a key
/// segment cannot hold replaced by `-`).
pub fn resolve(given: Option<&str>) -> String {
    if let Some(id) = given {
        return id.to_string();
    }
    if on_ec2() {
        match instance_id() {
            Ok(id) => return id,
            Err(e) => eprintln!(
                "mirrorcap: archive: EC2 instance ID not available from IMDSv2 ({e}): naming this appliance by its host name"
            ),
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let id: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with('.') {
        "appliance".into()
    } else {
        id
    }
}

/// Whether the DMI says this is an EC2 instance (Nitro and Xen ones).
fn on_ec2() -> bool {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    read("/sys/devices/virtual/dmi/id/sys_vendor").trim() == "Amazon EC2"
        || read("/sys/devices/virtual/dmi/id/board_vendor").trim() == "Amazon EC2"
        || read("/sys/hypervisor/uuid").starts_with("ec2")
}

/// The instance ID, with an IMDSv2 session token.
fn instance_id() -> Result<String, String> {
    let token = request(
        "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )?;
    let id = request(&format!(
        "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\nX-aws-ec2-metadata-token: {token}\r\nConnection: close\r\n\r\n"
    ))?;
    mirrorcap_archive::location::check_appliance_id(&id)?;
    Ok(id)
}

/// One HTTP/1.1 exchange with the metadata service: the body of a 200 answer.
fn request(req: &str) -> Result<String, String> {
    let addr: SocketAddr = IMDS.parse().map_err(|e| format!("{e}"))?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.take(64 << 10)
        .read_to_end(&mut resp)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("metadata service answered {status:?}"));
    }
    Ok(body.trim().to_string())
}

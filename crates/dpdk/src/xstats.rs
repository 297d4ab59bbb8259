//! A port's extended statistics (`rte_eth_xstats_get`): names read once, value buffers
//! allocated once, then read in place. On ENA these go through the admin queue, so only the
//! control core reads them, about once a second.
use super::{DpdkError, Port};
use std::ffi::CStr;
use std::marker::PhantomData;

/// The xstats of one port. Borrows the port, so it cannot outlive it.
pub struct Xstats<'a> {
    port_id: u16,
    names: Vec<String>,
    values: Vec<dpdk_sys::rte_eth_xstat>,
    len: usize,
    _port: PhantomData<&'a Port<'a>>,
}

fn load_names(port_id: u16) -> Result<Vec<String>, DpdkError> {
    // SAFETY: a null array with size 0 asks for the count.
    let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(port_id, std::ptr::null_mut(), 0) };
    if n < 0 {
        return Err(DpdkError::from_ret("rte_eth_xstats_get_names", n));
    }
    let mut raw = vec![dpdk_sys::rte_eth_xstat_name::default(); n as usize];
    // SAFETY: raw holds n entries, the size passed.
    let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(port_id, raw.as_mut_ptr(), n as u32) };
    if got < 0 {
        return Err(DpdkError::from_ret("rte_eth_xstats_get_names", got));
    }
    Ok(raw[..(got as usize).min(raw.len())]
        .iter()
        .map(|r| {
            // The last byte is forced to NUL so the C string always ends inside the array.
            let mut bytes = r.name;
            if let Some(last) = bytes.last_mut() {
                *last = 0;
            }
            // SAFETY: bytes is NUL-terminated within its RTE_ETH_XSTATS_NAME_SIZE bytes.
            unsafe { CStr::from_ptr(bytes.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        })
        .collect())
}

impl<'a> Xstats<'a> {
    /// Reads the port's xstat names and sizes the value buffer. Control core only.
    pub fn new(port: &'a Port<'a>) -> Result<Self, DpdkError> {
        let names = load_names(port.id())?;
        Ok(Xstats {
            port_id: port.id(),
            values: vec![dpdk_sys::rte_eth_xstat::default(); names.len()],
            names,
            len: 0,
            _port: PhantomData,
        })
    }

    /// Reads the current values into the buffer allocated by [`Xstats::new`] (a driver whose
    /// list of xstats grew gets its names and buffer reloaded once).
    pub fn refresh(&mut self) -> Result<(), DpdkError> {
        for _ in 0..2 {
            // SAFETY: values holds values.len() entries, the size passed.
            let n = unsafe {
                dpdk_sys::rte_eth_xstats_get(
                    self.port_id,
                    self.values.as_mut_ptr(),
                    self.values.len() as u32,
                )
            };
            if n < 0 {
                return Err(DpdkError::from_ret("rte_eth_xstats_get", n));
            }
            if n as usize <= self.values.len() {
                self.len = n as usize;
                return Ok(());
            }
            self.names = load_names(self.port_id)?;
            self.values =
                vec![dpdk_sys::rte_eth_xstat::default(); self.names.len().max(n as usize)];
        }
        Err(DpdkError::from_errno(
            "rte_eth_xstats_get: the driver's list keeps changing",
            libc::EAGAIN,
        ))
    }

    /// The values read by the last [`Xstats::refresh`], as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.values[..self.len]
            .iter()
            .filter_map(|v| Some((self.names.get(v.id as usize)?.as_str(), v.value)))
    }
}

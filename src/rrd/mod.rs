//! A small safe wrapper over librrd. [`Rrd`] is the one handle to the library: it can be claimed
//! once per process and is neither `Send` nor `Sync`, so every librrd call happens on the thread
//! that claimed it (librrd's graph path is not thread-safe: concurrent graphs crash inside pango,
//! and its option parser and error buffer are global).

mod ffi;
pub mod graph;
pub mod schema;

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

static CLAIMED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrdError(pub String);

impl std::fmt::Display for RrdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RrdError {}

/// What `rrd_fetch` answered: row `i` covers `(start + i × step, start + (i + 1) × step]`, and
/// holds `ds` values (row-major).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub start: i64,
    pub step: u64,
    pub ds: usize,
    pub values: Vec<f64>,
}

/// Rows a percentile needs at least. The 95th drops the busiest 5 % of the rows; with fewer than
/// 20 that is less than one row, and the "percentile" is only the peak again, which the legend
/// already shows. (Two hours of a day graph's 5-minute rows; 20 minutes at the default step.)
pub const MIN_PERCENTILE_ROWS: usize = 20;

/// rrdtool's `VDEF:x=ds,PCT,PERCENTNAN` on the same values: the unknown ones (NaN) left out, the
/// rest sorted, the value at index `round(PCT × (n − 1) / 100)`. `None` with fewer than
/// [`MIN_PERCENTILE_ROWS`] known values.
pub fn percentile_known(values: impl IntoIterator<Item = f64>, pct: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
    if v.len() < MIN_PERCENTILE_ROWS {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((pct * (v.len() - 1) as f64) / 100.0).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

/// Which rows a fetch reads: the average of each row's steps, or the largest of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    Average,
    Max,
}

/// The process's librrd handle.
pub struct Rrd {
    _not_send: PhantomData<*const ()>,
}

impl Rrd {
    /// Take the handle; `None` if another part of the process already holds it.
    pub fn claim() -> Option<Rrd> {
        if CLAIMED.swap(true, Ordering::SeqCst) {
            None
        } else {
            Some(Rrd { _not_send: PhantomData })
        }
    }

    pub fn version(&self) -> String {
        // SAFETY: returns a pointer to a static string.
        unsafe { CStr::from_ptr(ffi::rrd_strversion()) }.to_string_lossy().into_owned()
    }

    /// `rrdtool create FILE --step STEP --start LAST_UP ARGS…`
    pub fn create(&self, path: &Path, step: u64, last_up: i64, args: &[String]) -> Result<(), RrdError> {
        let file = cpath(path)?;
        let args = cstrings(args)?;
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        clear_error();
        // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
        let rc = unsafe {
            ffi::rrd_create_r(
                file.as_ptr(),
                step as libc::c_ulong,
                last_up as libc::time_t,
                argv.len() as libc::c_int,
                argv.as_mut_ptr(),
            )
        };
        check(rc)
    }

    /// `rrdtool update FILE VALUE…` where each value is `time:v1:v2…`.
    pub fn update(&self, path: &Path, values: &[String]) -> Result<(), RrdError> {
        let file = cpath(path)?;
        let args = cstrings(values)?;
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        clear_error();
        // SAFETY: as in `create`; a null template means "all data sources in order".
        let rc =
            unsafe { ffi::rrd_update_r(file.as_ptr(), std::ptr::null(), argv.len() as libc::c_int, argv.as_mut_ptr()) };
        check(rc)
    }

    /// The time of the file's last update.
    pub fn last(&self, path: &Path) -> Result<i64, RrdError> {
        let file = cpath(path)?;
        clear_error();
        // SAFETY: valid string; returns -1 on error with the error buffer set.
        let t = unsafe { ffi::rrd_last_r(file.as_ptr()) };
        if t == -1 {
            Err(take_error("rrd_last failed"))
        } else {
            Ok(t as i64)
        }
    }

    /// The smallest heartbeat (seconds) of the file's data sources: how long an update may cover
    /// and still be known data.
    pub fn heartbeat(&self, path: &Path) -> Result<u64, RrdError> {
        let file = cpath(path)?;
        clear_error();
        // SAFETY: a valid string; the list is freed below.
        let info = unsafe { ffi::rrd_info_r(file.as_ptr()) };
        if info.is_null() {
            return Err(take_error("rrd_info failed"));
        }
        let mut beat = None;
        let mut node = info;
        // SAFETY: a NULL-terminated list owned by librrd until rrd_info_free.
        unsafe {
            while !node.is_null() {
                let n = &*node;
                let key = CStr::from_ptr(n.key).to_bytes();
                if n.type_ == ffi::RD_I_CNT && key.starts_with(b"ds[") && key.ends_with(b"].minimal_heartbeat") {
                    // c_ulong is 32 bits wide on armhf.
                    #[allow(clippy::useless_conversion)]
                    let v = u64::from(n.value.u_cnt);
                    beat = Some(beat.map_or(v, |b: u64| b.min(v)));
                }
                node = n.next;
            }
            ffi::rrd_info_free(info);
        }
        beat.ok_or_else(|| RrdError("no data sources".into()))
    }

    /// The sum over time of each data source's average between `start` and `end`, from the
    /// archive whose rows are `step` seconds (as `rrdtool fetch -r`): per-second rates times row
    /// width, so the bytes (or packets) the file holds for that window. Unknown rows add nothing.
    /// Returns the row width librrd answered with and the sums.
    pub fn fetch_sums(&self, path: &Path, start: i64, end: i64, step: u64) -> Result<(u64, Vec<f64>), RrdError> {
        let f = self.fetch(path, start, end, step)?;
        let mut sums = vec![0.0; f.ds];
        for row in f.values.chunks_exact(f.ds.max(1)) {
            for (sum, v) in sums.iter_mut().zip(row) {
                if v.is_finite() {
                    *sum += v * f.step as f64;
                }
            }
        }
        Ok((f.step, sums))
    }

    /// `rrdtool fetch FILE AVERAGE -r STEP -s START -e END`: the rows of the archive librrd picks
    /// (the finest that covers the window), each a per-second average (NaN when unknown).
    pub fn fetch(&self, path: &Path, start: i64, end: i64, step: u64) -> Result<Fetched, RrdError> {
        self.fetch_cf(path, Cf::Average, start, end, step)
    }

    /// As [`Rrd::fetch`], from the archives of consolidation function `cf`.
    pub fn fetch_cf(&self, path: &Path, cf: Cf, start: i64, end: i64, step: u64) -> Result<Fetched, RrdError> {
        let file = cpath(path)?;
        let (mut start, mut end) = (start as libc::time_t, end as libc::time_t);
        let mut step = step as libc::c_ulong;
        let mut ds_cnt: libc::c_ulong = 0;
        let mut names: *mut *mut libc::c_char = std::ptr::null_mut();
        let mut data: *mut f64 = std::ptr::null_mut();
        clear_error();
        // SAFETY: every out-pointer is valid; on success librrd allocates names and data, which
        // are freed below with rrd_freemem.
        let rc = unsafe {
            ffi::rrd_fetch_r(
                file.as_ptr(),
                match cf {
                    Cf::Average => c"AVERAGE".as_ptr(),
                    Cf::Max => c"MAX".as_ptr(),
                },
                &mut start,
                &mut end,
                &mut step,
                &mut ds_cnt,
                &mut names,
                &mut data,
            )
        };
        if rc != 0 {
            return Err(take_error("rrd_fetch failed"));
        }
        let n = ds_cnt as usize;
        let rows = if step == 0 { 0 } else { ((end - start) as u64 / step as u64) as usize };
        let mut values = Vec::new();
        // SAFETY: librrd returns rows × ds_cnt values and ds_cnt names, all freed here once.
        unsafe {
            if !data.is_null() {
                values.extend_from_slice(std::slice::from_raw_parts(data, rows * n));
                ffi::rrd_freemem(data.cast());
            }
            if !names.is_null() {
                for i in 0..n {
                    ffi::rrd_freemem((*names.add(i)).cast());
                }
                ffi::rrd_freemem(names.cast());
            }
        }
        // time_t and c_ulong are 32 bits wide on armhf.
        #[allow(clippy::useless_conversion)]
        let (start, step) = (i64::from(start), u64::from(step));
        Ok(Fetched { start, step, ds: n, values })
    }

    /// `rrdtool graphv - ARGS…`: the rendered image, in memory, and the lines `PRINT` made.
    pub fn graph(&self, args: &[String]) -> Result<(Vec<u8>, Vec<String>), RrdError> {
        let mut all = Vec::with_capacity(args.len() + 2);
        all.push("graphv".to_string());
        all.push("-".to_string());
        all.extend_from_slice(args);
        let args = cstrings(&all)?;
        // librrd's option parser takes `char **` but does not write through it.
        let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr() as *mut libc::c_char).collect();
        clear_error();
        // SAFETY: argv holds valid strings for the duration of the call.
        let info = unsafe { ffi::rrd_graph_v(argv.len() as libc::c_int, argv.as_mut_ptr()) };
        if info.is_null() {
            return Err(take_error("rrd_graph_v failed"));
        }
        let mut image = None;
        let mut prints = Vec::new();
        let mut node = info;
        // SAFETY: a NULL-terminated list owned by librrd until rrd_info_free.
        unsafe {
            while !node.is_null() {
                let n = &*node;
                if n.type_ == ffi::RD_I_BLO && CStr::from_ptr(n.key).to_bytes() == b"image" {
                    let blob = n.value.u_blo;
                    image = Some(std::slice::from_raw_parts(blob.ptr, blob.size as usize).to_vec());
                } else if n.type_ == ffi::RD_I_STR && CStr::from_ptr(n.key).to_bytes().starts_with(b"print[") {
                    prints.push(CStr::from_ptr(n.value.u_str).to_string_lossy().into_owned());
                }
                node = n.next;
            }
            ffi::rrd_info_free(info);
        }
        let err = take_error("");
        match image {
            Some(img) if !img.is_empty() => Ok((img, prints)),
            _ if !err.0.is_empty() => Err(err),
            _ => Err(RrdError("rrd_graph_v returned no image".into())),
        }
    }
}

fn cpath(p: &Path) -> Result<CString, RrdError> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| RrdError(format!("path {p:?} contains NUL")))
}

fn cstrings(args: &[String]) -> Result<Vec<CString>, RrdError> {
    args.iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| RrdError(format!("argument {a:?} contains NUL"))))
        .collect()
}

fn clear_error() {
    // SAFETY: resets librrd's error buffer for this thread.
    unsafe { ffi::rrd_clear_error() }
}

fn take_error(fallback: &str) -> RrdError {
    // SAFETY: rrd_get_error returns the (possibly empty) error string of this thread's context.
    let msg = unsafe {
        let p = ffi::rrd_get_error();
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    clear_error();
    RrdError(if msg.is_empty() { fallback.to_string() } else { msg })
}

fn check(rc: libc::c_int) -> Result<(), RrdError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(take_error("librrd call failed"))
    }
}

/// True for librrd's refusal of an update whose time is not after the file's last update.
pub fn is_illegal_time(e: &RrdError) -> bool {
    e.0.contains("illegal attempt to update") || e.0.contains("minimum one second step")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_the_known_rows_only() {
        // rrdtool 1.7.2 on 0..=10 in this order (30 rows, then unknowns): PERCENTNAN 95 -> 10,
        // 50 -> 5, 30 -> 3.
        let rows: Vec<f64> = (1..=30).map(|i| f64::from((i * 37) % 11)).collect();
        let mut with_unknowns = vec![f64::NAN; 40];
        with_unknowns.extend(&rows);
        with_unknowns.extend([f64::NAN; 5]);
        for (pct, want) in [(95.0, 10.0), (50.0, 5.0), (30.0, 3.0)] {
            assert_eq!(percentile_known(rows.iter().copied(), pct), Some(want));
            assert_eq!(percentile_known(with_unknowns.iter().copied(), pct), Some(want));
        }
        // Too few known rows: no figure, never a 0 made of unknowns.
        assert_eq!(percentile_known([1.0; MIN_PERCENTILE_ROWS - 1].into_iter().chain([f64::NAN; 100]), 95.0), None);
        assert_eq!(percentile_known([0.0; MIN_PERCENTILE_ROWS], 95.0), Some(0.0));
    }
}

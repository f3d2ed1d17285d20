//! `extern "C"` declarations for the few librrd (rrdtool 1.7) calls flowpi makes.
//!
//! Types come from `libc` so `time_t` and `unsigned long` have the target's width: both are
//! 32 bits on armv7, which is what the `rrd` crate gets wrong.

use libc::{c_char, c_int, c_uchar, c_ulong, time_t};

#[repr(C)]
#[derive(Clone, Copy)]
pub struct rrd_blob_t {
    pub size: c_ulong,
    pub ptr: *mut c_uchar,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union rrd_infoval_t {
    pub u_cnt: c_ulong,
    pub u_val: f64,
    pub u_str: *mut c_char,
    pub u_int: c_int,
    pub u_blo: rrd_blob_t,
}

/// `rrd_info_type_t`: a C enum, so an `int`.
pub const RD_I_CNT: c_int = 1;
pub const RD_I_STR: c_int = 2;
pub const RD_I_BLO: c_int = 4;

#[repr(C)]
pub struct rrd_info_t {
    pub key: *mut c_char,
    pub type_: c_int,
    pub value: rrd_infoval_t,
    pub next: *mut rrd_info_t,
}

#[link(name = "rrd")]
extern "C" {
    pub fn rrd_create_r(
        filename: *const c_char,
        pdp_step: c_ulong,
        last_up: time_t,
        argc: c_int,
        argv: *mut *const c_char,
    ) -> c_int;
    pub fn rrd_update_r(
        filename: *const c_char,
        template: *const c_char,
        argc: c_int,
        argv: *mut *const c_char,
    ) -> c_int;
    pub fn rrd_last_r(filename: *const c_char) -> time_t;
    pub fn rrd_fetch_r(
        filename: *const c_char,
        cf: *const c_char,
        start: *mut time_t,
        end: *mut time_t,
        step: *mut c_ulong,
        ds_cnt: *mut c_ulong,
        ds_namv: *mut *mut *mut c_char,
        data: *mut *mut f64,
    ) -> c_int;
    pub fn rrd_freemem(mem: *mut libc::c_void);
    pub fn rrd_info_r(filename: *const c_char) -> *mut rrd_info_t;
    pub fn rrd_graph_v(argc: c_int, argv: *mut *mut c_char) -> *mut rrd_info_t;
    pub fn rrd_info_free(info: *mut rrd_info_t);
    pub fn rrd_get_error() -> *mut c_char;
    pub fn rrd_clear_error();
    pub fn rrd_strversion() -> *mut c_char;
}

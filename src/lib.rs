//! flowpi: a NetFlow collector that keeps per-host and per-interface RRD archives and serves graphs.
//!
//! Data flows one way: UDP socket -> decode -> aggregate -> (every step) snapshot -> archive thread
//! (the only caller of librrd) -> .rrd files; the HTTP threads ask the archive thread for graphs and
//! read the published summary for the JSON API.

pub mod app;
pub mod archive;
pub mod calendar;
pub mod cli;
pub mod collector;
pub mod config;
pub mod decode;
pub mod doctor;
pub mod file;
pub mod fxhash;
pub mod history;
pub mod http;
pub mod journal;
pub mod names;
pub mod net;
pub mod pcap;
pub mod ratelimit;
pub mod recv;
pub mod replay;
pub mod rrd;
pub mod stats;
pub mod systemd;
pub mod text;
pub mod topk;
pub mod totals;
pub mod views;

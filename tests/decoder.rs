//! The decoder child of the end-to-end tests' ingest service: the hub's own
//! decoders, as the `hub` and `ingest` binaries run them, and one more for the
//! sandbox's own tests ([`hub_e2e::Fault`]). No real library can be made to
//! abort, hang or allocate without end on purpose once the hub refuses the
//! files that did, so a file starting with `HUBFAULT <what>` makes that
//! decoder do what such a library does: `abort`, `panic`, `hang`, `spin`,
//! `allocate`, `stdout` (print to stdout, then open normally) or `fail_read`
//! (open normally; reads from index 2 on fail).

fn main() {
    hub_sandbox::run_if_child(hub_e2e::test_decoders);
    eprintln!("this program is the tests' decoder child: the ingest service starts it");
    std::process::exit(2);
}

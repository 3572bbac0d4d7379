// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const W: f64 = 8000.0; // buckets of 1000 ms

fn at(t: f64) -> i64 {
    bucket_of(t, bucket_width(W))
}

#[test]
fn a_charge_counts_for_at_least_the_window_and_at_most_one_bucket_more() {
    let mut r = Rolling::new(1);
    r.add(at(1500.0), [(0, 7)].into_iter());
    for t in [1500.0, 5000.0, 1500.0 + W - 1.0, 9999.0] {
        r.advance(at(t));
        assert_eq!(r.sum(0), 7, "still in the window at {t}");
    }
    // Its bucket [1000, 2000) has wholly left the window (t - W >= 2000).
    r.advance(at(10_000.0));
    assert_eq!(r.sum(0), 0);
    assert!(r.is_empty());
}

#[test]
fn buckets_expire_one_by_one_and_sums_track_them() {
    let mut r = Rolling::new(2);
    for i in 0..20 {
        r.add(at(i as f64 * 1000.0), [(0, 1), (1, 10)].into_iter());
        // Nine buckets live at most: the current one and the eight before it.
        let live = (i + 1).min(9) as u64;
        assert_eq!((r.sum(0), r.sum(1)), (live, 10 * live), "at {i}");
    }
    // A long gap clears everything in one step.
    r.advance(at(1e9));
    assert_eq!(r.sum(0), 0);
}

#[test]
fn read_only_sums_agree_with_advancing() {
    let mut r = Rolling::new(1);
    for i in [0, 1, 2, 5, 6] {
        r.add(i, [(0, 1 << i)].into_iter());
    }
    for b in 6..20 {
        let peek = r.sum_at(b, 0);
        let mut c = r.clone();
        c.advance(b);
        assert_eq!(peek, c.sum(0), "at bucket {b}");
    }
}

#[test]
fn late_and_out_of_ring_charges_never_go_below_the_window() {
    let mut r = Rolling::new(1);
    r.add(100, [(0, 1)].into_iter());
    // An older bucket still in the ring is kept where it belongs.
    r.add(95, [(0, 2)].into_iter());
    assert_eq!(r.sum(0), 3);
    // One already out of the window is dropped.
    r.add(80, [(0, 4)].into_iter());
    assert_eq!(r.sum(0), 3);
    // Bogus times cannot panic.
    r.add(bucket_of(f64::NAN, 1.0), [(0, 1)].into_iter());
    r.add(bucket_of(f64::INFINITY, 1.0), [(0, 1)].into_iter());
    r.advance(i64::MAX);
    assert_eq!(r.sum(0), 1);
}

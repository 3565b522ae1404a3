//! Property tests of `Interval`: text round trip, flooring, divisibility.

mod common;

use common::{common_interval, config, interval, time};
use marketseries_core::Interval;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn display_parse_round_trip(i in interval()) {
        let text = i.to_string();
        let back: Interval = text.parse().unwrap();
        prop_assert_eq!(back, i);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn floor_is_idempotent_and_contains_t(i in interval(), t in time()) {
        let f = i.floor(t);
        prop_assert_eq!(i.floor(f), f);
        prop_assert!(f <= t);
        prop_assert!(t < f + i.duration());
        prop_assert!(i.is_aligned(f));
    }

    #[test]
    fn floors_nest_when_intervals_divide(i in common_interval(), j in common_interval(), t in time()) {
        if i.divides(j) {
            prop_assert_eq!(j.floor(i.floor(t)), j.floor(t));
            // Every boundary of the coarser grid is a boundary of the finer one.
            prop_assert!(i.is_aligned(j.floor(t)));
        } else {
            // `divides` is false only if widths or grids disagree.
            let widths = j.seconds() % i.seconds() == 0;
            let grids = i.is_aligned(j.origin());
            prop_assert!(!(widths && grids));
        }
    }

    #[test]
    fn multiples_are_divisible(i in interval(), k in 1u32..60) {
        if let Ok(j) = Interval::new(i.count() * k, i.unit()) {
            prop_assert!(i.divides(j));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,12}") {
        let _ = s.parse::<Interval>();
    }
}

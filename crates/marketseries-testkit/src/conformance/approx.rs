//! Equality with a tolerance for floating-point fields (sentiment means and sums are `f64`,
//! and databases may add them in another order).

use marketseries_core::{
    SentimentAggregate, SentimentReading, SentimentSummary, SentimentTrend, SentimentWindow,
    SourceSentiment,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Equality up to floating-point summation order.
pub trait Approx {
    /// Whether `self` and `other` are equal, comparing `f64` fields with a relative
    /// tolerance of 1e-9.
    fn approx_eq(&self, other: &Self) -> bool;
}

impl<T: Approx> Approx for Vec<T> {
    fn approx_eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a.approx_eq(b))
    }
}

impl<T: Approx> Approx for Option<T> {
    fn approx_eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.approx_eq(b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Approx for SentimentReading {
    fn approx_eq(&self, o: &Self) -> bool {
        // Readings are stored, not computed: they must round-trip exactly.
        self == o
    }
}

impl Approx for SentimentAggregate {
    fn approx_eq(&self, o: &Self) -> bool {
        self.time == o.time
            && close(self.avg_score, o.avg_score)
            && self.min_score == o.min_score
            && self.max_score == o.max_score
            && self.readings == o.readings
            && self.mentions == o.mentions
            && close(self.engagement, o.engagement)
    }
}

impl Approx for SentimentWindow {
    fn approx_eq(&self, o: &Self) -> bool {
        close(self.avg_score, o.avg_score) && self.readings == o.readings
    }
}

impl Approx for SentimentTrend {
    fn approx_eq(&self, o: &Self) -> bool {
        self.asset == o.asset
            && self.current_range == o.current_range
            && self.current.approx_eq(&o.current)
            && self.previous.approx_eq(&o.previous)
    }
}

impl Approx for SourceSentiment {
    fn approx_eq(&self, o: &Self) -> bool {
        self.source == o.source
            && close(self.avg_score, o.avg_score)
            && self.readings == o.readings
            && self.mentions == o.mentions
    }
}

impl Approx for SentimentSummary {
    fn approx_eq(&self, o: &Self) -> bool {
        self.asset == o.asset
            && close(self.avg_score, o.avg_score)
            && self.readings == o.readings
            && self.mentions == o.mentions
            && self.distribution == o.distribution
            && self.latest_time == o.latest_time
    }
}

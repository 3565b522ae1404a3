DROP VIEW IF EXISTS whale_activity, sentiment_summary, market_overview;
DROP FUNCTION IF EXISTS whale_activity_between(numeric, timestamptz, timestamptz, text),
    sentiment_summary_at(interval, timestamptz), market_overview_at(timestamptz),
    price_change_percent(text, interval, timestamptz),
    marketseries_change_percent(text, text, interval, timestamptz),
    get_ohlcv(text, text, timestamptz, timestamptz), marketseries_base_interval(text),
    marketseries_natives(text), marketseries_symbols(),
    marketseries_divides(text, text), marketseries_interval_origin(text);

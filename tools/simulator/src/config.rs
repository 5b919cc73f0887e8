//! The simulator's settings: command-line flags at start, and the fault knobs that
//! `POST /_sim/config` changes at runtime (partial JSON updates, validated whole).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub const USAGE: &str = "venue-simulator: a local Alpaca-Trading-API-v2-like exchange for tests

  --listen ADDR               loopback address to serve on (default 127.0.0.1:8900)
  --seed N                    price path seed (default 42)
  --tick-ms N                 price tick period (default 100)
  --day-ms N                  DAY orders expire after this long (default 60000)
  --prices SYM=P,SYM=P        start prices (others start at 100)
  --state FILE                keep orders across restarts in FILE
  --latency-ms N              delay before answering (default 0)
  --error-rate F              fraction answered 500/503 before doing anything (default 0)
  --partial-fill-rate F       fraction of fills that fill only part (default 0)
  --drop-response-rate F      fraction done, then answered with a broken connection (default 0)
  --accepted-ms N             a new order shows `accepted` this long before it is routed (default 40)
  --pending-new-ms N          then `pending_new` this long before it works (`new`) (default 10)
  --cancel-ms N               a cancel shows `pending_cancel` this long before `canceled` (default 50)
  --rate-limit-per-min N      requests a minute per APCA-API-KEY-ID, then 429 (default 200; 0 = off)
  --market-data-rate-limit-per-min N
                              the same for the Market Data API, counted apart (default 200; 0 = off)
  --stream-delay-ms N         delay of each trade_updates message on /stream (default 0)
  --place-delay-ms N          act on an order placement only N ms after receiving it, even if the
                              client gave up meanwhile; a lookup before then finds nothing (default 0)";

/// What `GET /_sim/config` shows and `POST /_sim/config` changes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Knobs {
    pub latency_ms: u64,
    pub error_rate: f64,
    pub partial_fill_rate: f64,
    pub drop_response_rate: f64,
    pub tick_ms: u64,
    pub day_ms: u64,
    /// How long a new order shows `accepted` (received, not yet routed) ...
    pub accepted_ms: u64,
    /// ... and then `pending_new` (routed, not yet working) before it is `new`.
    pub pending_new_ms: u64,
    /// How long a cancel request shows `pending_cancel` before the order is `canceled`
    /// (fills may still come meanwhile). The DELETE itself answers 204 at once.
    pub cancel_ms: u64,
    /// Regular session: `false` holds new orders in `accepted`, shows working ones as
    /// `done_for_day` and fills nothing until it opens again.
    pub market_open: bool,
    /// Requests a minute per `APCA-API-KEY-ID` before 429 (Alpaca: 200); 0 = no limit.
    pub rate_limit_per_min: u32,
    /// The same for the Market Data API, counted apart from the trading API's (Alpaca's
    /// Basic plan: 200 a minute); 0 = no limit.
    pub market_data_rate_limit_per_min: u32,
    /// Buys whose cost (qty x limit, or x the last price) exceeds what is left of this
    /// after open buys are refused with 403 `40310000`; `None` = unlimited.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub buying_power: Option<Decimal>,
    /// Delay of every `trade_updates` message on `/stream`.
    pub stream_delay_ms: u64,
    /// `POST /v2/orders` takes effect this long after it arrived (a slow venue).
    pub place_delay_ms: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            partial_fill_rate: 0.0,
            drop_response_rate: 0.0,
            tick_ms: 100,
            day_ms: 60_000,
            accepted_ms: 40,
            pending_new_ms: 10,
            cancel_ms: 50,
            market_open: true,
            rate_limit_per_min: 200,
            market_data_rate_limit_per_min: 200,
            buying_power: None,
            stream_delay_ms: 0,
            place_delay_ms: 0,
        }
    }
}

/// A partial update of the knobs: absent fields keep their value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsPatch {
    pub latency_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub partial_fill_rate: Option<f64>,
    pub drop_response_rate: Option<f64>,
    pub tick_ms: Option<u64>,
    pub day_ms: Option<u64>,
    pub accepted_ms: Option<u64>,
    pub pending_new_ms: Option<u64>,
    pub cancel_ms: Option<u64>,
    pub market_open: Option<bool>,
    pub rate_limit_per_min: Option<u32>,
    pub market_data_rate_limit_per_min: Option<u32>,
    /// Absent: unchanged; `null`: unlimited; a decimal (string or number): the limit.
    #[serde(default, deserialize_with = "decimal_or_null")]
    pub buying_power: Option<Option<Decimal>>,
    pub stream_delay_ms: Option<u64>,
    pub place_delay_ms: Option<u64>,
}

fn decimal_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Decimal>>, D::Error> {
    let text = match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => return Ok(Some(None)),
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "buying_power must be a decimal or null, got {other}"
            )));
        }
    };
    Decimal::from_str(text.trim())
        .ok()
        .filter(|d| *d >= Decimal::ZERO)
        .map(|d| Some(Some(d)))
        .ok_or_else(|| serde::de::Error::custom(format!("buying_power `{text}` is not a decimal >= 0")))
}

fn rate(name: &str, value: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{name} must be a fraction in [0, 1], got {value}"))
    }
}

fn positive(name: &str, value: u64) -> Result<u64, String> {
    if value > 0 {
        Ok(value)
    } else {
        Err(format!("{name} must be at least 1"))
    }
}

/// A placement held longer than this would outlive any client's patience; refused.
pub const MAX_PLACE_DELAY_MS: u64 = 60_000;

fn at_most(name: &str, value: u64, max: u64) -> Result<u64, String> {
    if value <= max {
        Ok(value)
    } else {
        Err(format!("{name} must be at most {max}, got {value}"))
    }
}

impl Knobs {
    /// The knobs with `patch` applied, or why the patch is refused (nothing applied).
    pub fn patched(&self, patch: &KnobsPatch) -> Result<Self, String> {
        Ok(Self {
            latency_ms: patch.latency_ms.unwrap_or(self.latency_ms),
            error_rate: rate("error_rate", patch.error_rate.unwrap_or(self.error_rate))?,
            partial_fill_rate: rate(
                "partial_fill_rate",
                patch.partial_fill_rate.unwrap_or(self.partial_fill_rate),
            )?,
            drop_response_rate: rate(
                "drop_response_rate",
                patch.drop_response_rate.unwrap_or(self.drop_response_rate),
            )?,
            tick_ms: positive("tick_ms", patch.tick_ms.unwrap_or(self.tick_ms))?,
            day_ms: positive("day_ms", patch.day_ms.unwrap_or(self.day_ms))?,
            accepted_ms: patch.accepted_ms.unwrap_or(self.accepted_ms),
            pending_new_ms: patch.pending_new_ms.unwrap_or(self.pending_new_ms),
            cancel_ms: patch.cancel_ms.unwrap_or(self.cancel_ms),
            market_open: patch.market_open.unwrap_or(self.market_open),
            rate_limit_per_min: patch.rate_limit_per_min.unwrap_or(self.rate_limit_per_min),
            market_data_rate_limit_per_min: patch
                .market_data_rate_limit_per_min
                .unwrap_or(self.market_data_rate_limit_per_min),
            buying_power: patch.buying_power.unwrap_or(self.buying_power),
            stream_delay_ms: patch.stream_delay_ms.unwrap_or(self.stream_delay_ms),
            place_delay_ms: at_most(
                "place_delay_ms",
                patch.place_delay_ms.unwrap_or(self.place_delay_ms),
                MAX_PLACE_DELAY_MS,
            )?,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub seed: u64,
    pub prices: BTreeMap<String, Decimal>,
    pub state_file: Option<PathBuf>,
    /// Where to append every `/v2` exchange as a JSON line (`SIM_RECORDING`).
    pub recording: Option<PathBuf>,
    pub knobs: Knobs,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8900)),
            seed: 42,
            prices: BTreeMap::new(),
            state_file: None,
            recording: None,
            knobs: Knobs::default(),
        }
    }
}

fn number<T: FromStr>(flag: &str, raw: &str) -> Result<T, String> {
    raw.parse()
        .map_err(|_| format!("{flag}: `{raw}` is not a valid number"))
}

/// `AAPL=190,MSFT=410.5`.
pub fn parse_prices(raw: &str) -> Result<BTreeMap<String, Decimal>, String> {
    let mut prices = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (symbol, price) = pair
            .split_once('=')
            .ok_or_else(|| format!("--prices: `{pair}` is not SYMBOL=PRICE"))?;
        let price = Decimal::from_str(price.trim())
            .ok()
            .filter(|p| *p > Decimal::ZERO)
            .ok_or_else(|| format!("--prices: `{price}` is not a positive price"))?;
        prices.insert(symbol.trim().to_owned(), price);
    }
    Ok(prices)
}

impl SimConfig {
    /// Parses the flags (without the program name). `Err` carries the message to
    /// print; `--help` yields the usage text as the error.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut config = Self::default();
        let mut patch = KnobsPatch::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.to_owned());
            }
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(format!("{flag} needs a value\n\n{USAGE}")),
            };
            match flag.as_str() {
                "--listen" => {
                    let addr: SocketAddr = number(&flag, &value)?;
                    if !addr.ip().is_loopback() {
                        return Err(format!("--listen: {addr} is not a loopback address"));
                    }
                    config.listen = addr;
                }
                "--seed" => config.seed = number(&flag, &value)?,
                "--tick-ms" => patch.tick_ms = Some(number(&flag, &value)?),
                "--day-ms" => patch.day_ms = Some(number(&flag, &value)?),
                "--prices" => config.prices = parse_prices(&value)?,
                "--state" => config.state_file = Some(PathBuf::from(value)),
                "--latency-ms" => patch.latency_ms = Some(number(&flag, &value)?),
                "--error-rate" => patch.error_rate = Some(number(&flag, &value)?),
                "--partial-fill-rate" => patch.partial_fill_rate = Some(number(&flag, &value)?),
                "--drop-response-rate" => patch.drop_response_rate = Some(number(&flag, &value)?),
                "--accepted-ms" => patch.accepted_ms = Some(number(&flag, &value)?),
                "--pending-new-ms" => patch.pending_new_ms = Some(number(&flag, &value)?),
                "--cancel-ms" => patch.cancel_ms = Some(number(&flag, &value)?),
                "--rate-limit-per-min" => patch.rate_limit_per_min = Some(number(&flag, &value)?),
                "--market-data-rate-limit-per-min" => {
                    patch.market_data_rate_limit_per_min = Some(number(&flag, &value)?)
                }
                "--stream-delay-ms" => patch.stream_delay_ms = Some(number(&flag, &value)?),
                "--place-delay-ms" => patch.place_delay_ms = Some(number(&flag, &value)?),
                other => return Err(format!("unknown flag {other}\n\n{USAGE}")),
            }
        }
        config.knobs = config.knobs.patched(&patch)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_parse_and_bad_ones_are_named() {
        let c = SimConfig::from_args(args(
            "--listen 127.0.0.1:0 --seed=7 --prices AAPL=190,MSFT=410.5 --error-rate 0.5",
        ))
        .unwrap();
        assert_eq!((c.listen.port(), c.seed, c.knobs.error_rate), (0, 7, 0.5));
        assert_eq!(c.prices.get("MSFT"), Decimal::from_str("410.5").ok().as_ref());
        assert_eq!(SimConfig::from_args(Vec::new()), Ok(SimConfig::default()));
        for (bad, word) in [
            ("--listen 0.0.0.0:1", "loopback"),
            ("--error-rate 2", "error_rate"),
            ("--tick-ms 0", "tick_ms"),
            ("--prices AAPL", "SYMBOL=PRICE"),
            ("--seed", "needs a value"),
            ("--bogus 1", "unknown flag"),
        ] {
            let e = SimConfig::from_args(args(bad)).unwrap_err();
            assert!(e.contains(word), "{bad}: {e}");
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_refuses_whole() {
        let k = Knobs::default();
        let p: KnobsPatch = serde_json::from_str(r#"{"error_rate": 1}"#).unwrap();
        let next = k.patched(&p).unwrap();
        assert_eq!(
            next,
            Knobs {
                error_rate: 1.0,
                ..k.clone()
            }
        );
        let bad: KnobsPatch = serde_json::from_str(r#"{"latency_ms": 5, "error_rate": -0.1}"#).unwrap();
        assert!(k.patched(&bad).is_err());
        assert!(serde_json::from_str::<KnobsPatch>(r#"{"eror_rate": 1}"#).is_err());
    }

    #[test]
    fn the_place_delay_is_a_knob_and_a_flag_with_a_bound() {
        let p: KnobsPatch = serde_json::from_str(r#"{"place_delay_ms": 2500}"#).unwrap();
        assert_eq!(Knobs::default().patched(&p).unwrap().place_delay_ms, 2500);
        let c = SimConfig::from_args(args("--place-delay-ms 100")).unwrap();
        assert_eq!(c.knobs.place_delay_ms, 100);
        let too_long: KnobsPatch = serde_json::from_str(r#"{"place_delay_ms": 60001}"#).unwrap();
        let e = Knobs::default().patched(&too_long).unwrap_err();
        assert!(e.contains("place_delay_ms"), "{e}");
    }
}

//! Market access controls (SEC Rule 15c3-5 in practice): the trading state an operator
//! sets for one trader or for the whole deployment, and what each state lets through.
//!
//! - `active`: orders are accepted as the other checks allow;
//! - `reducing`: only an order that reduces a position: a sell, never larger than the
//!   position held (no short selling is offered, so the sell's position reservation
//!   already bounds it by the quantity held);
//! - `halted`: no new order at all.
//!
//! The deployment's state and the trader's are both checked, inside the submit's
//! transaction (a `ConditionCheck` on the deployment's item, a condition on the
//! trader's account item), so an order can never commit after a halt did.

use serde::{Deserialize, Serialize};

use super::ids::TraderId;
use super::order::Side;

/// A trading state (the operator API's `state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    #[default]
    Active,
    Reducing,
    Halted,
}

impl TradingState {
    pub const ALL: [TradingState; 3] = [Self::Active, Self::Reducing, Self::Halted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Reducing => "reducing",
            Self::Halted => "halted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether an order of `side` may be accepted in this state (a sell's size is
    /// bounded by the position it reserves, checked with the reservation).
    pub fn admits(self, side: Side) -> bool {
        match self {
            Self::Active => true,
            Self::Reducing => side == Side::Sell,
            Self::Halted => false,
        }
    }

    /// The states in which an order of `side` may be accepted: what the stores'
    /// conditions compare the stored state with.
    pub fn admitting(side: Side) -> &'static [TradingState] {
        match side {
            Side::Buy => &[Self::Active],
            Side::Sell => &[Self::Active, Self::Reducing],
        }
    }
}

impl std::fmt::Display for TradingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose trading state: one trader's, or the whole deployment's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TradingScope {
    Deployment,
    Trader(TraderId),
}

impl std::fmt::Display for TradingScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deployment => f.write_str("the deployment"),
            Self::Trader(t) => write!(f, "trader {t}"),
        }
    }
}

/// The audit record action of a trading state change (on the account chain
/// `ACCOUNT#<trader>`; the deployment's on its principal's chain).
pub const SET_TRADING_STATE: &str = "SET_TRADING_STATE";

/// A SET_TRADING_STATE record's `before` and `after`.
pub fn trading_state_snapshots(
    before: TradingState,
    after: TradingState,
    reason: Option<&str>,
) -> (Option<serde_json::Value>, Option<serde_json::Value>) {
    let snap = |s: TradingState| serde_json::json!({"trading_state": s.as_str()});
    let mut after = snap(after);
    if let Some(r) = reason {
        after["reason"] = serde_json::Value::String(r.to_owned());
    }
    (Some(snap(before)), Some(after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_admits_what_it_says() {
        assert!(TradingState::Active.admits(Side::Buy) && TradingState::Active.admits(Side::Sell));
        assert!(!TradingState::Reducing.admits(Side::Buy) && TradingState::Reducing.admits(Side::Sell));
        assert!(!TradingState::Halted.admits(Side::Buy) && !TradingState::Halted.admits(Side::Sell));
        for side in [Side::Buy, Side::Sell] {
            for s in TradingState::ALL {
                assert_eq!(
                    TradingState::admitting(side).contains(&s),
                    s.admits(side),
                    "{s} {side:?}"
                );
            }
        }
    }

    #[test]
    fn states_parse_from_their_names_only() {
        for s in TradingState::ALL {
            assert_eq!(TradingState::parse(s.as_str()), Some(s));
        }
        assert_eq!(TradingState::parse("HALTED"), None);
        assert_eq!(TradingState::parse(""), None);
    }
}

//! The book's matching rules, without any transport.

use std::str::FromStr;

use super::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("test decimal {s}"))
}

fn new(client: &str, side: Side, ty: OrderType, tif: TimeInForce, qty: &str) -> NewBookOrder {
    NewBookOrder {
        client_order_id: client.into(),
        symbol: "AAPL".into(),
        side,
        order_type: ty,
        time_in_force: tif,
        qty: d(qty),
        limit_price: None,
        stop_price: None,
    }
}

fn never() -> impl FnMut() -> bool {
    || false
}

#[test]
fn part_of_takes_whole_shares_then_the_rest() {
    assert_eq!(part_of(d("10")), d("5"));
    assert_eq!(part_of(d("7")), d("3"));
    assert_eq!(part_of(d("2.5")), d("1"));
    assert_eq!(part_of(d("1.5")), d("1.5"));
    assert_eq!(part_of(d("0.000001")), d("0.000001"));
}

#[test]
fn a_resting_buy_limit_fills_when_the_price_crosses_at_the_better_price() {
    let mut book = Book::new();
    let mut o = new("c1", Side::Buy, OrderType::Limit, TimeInForce::Gtc, "10");
    o.limit_price = Some(d("99.50"));
    let placed = book.place("v1".into(), o, d("100"), 0, &mut never()).unwrap();
    assert_eq!(placed.status, VenueStatus::New);
    assert_eq!(book.on_price("AAPL", d("99.51"), 1, &mut never()), 0);
    assert_eq!(book.on_price("MSFT", d("1"), 1, &mut never()), 0, "another symbol");
    assert_eq!(book.on_price("AAPL", d("99.40"), 2, &mut never()), 1);
    let o = book.get("v1").unwrap();
    assert_eq!(o.status, VenueStatus::Filled);
    assert_eq!(o.average_price(), Some(d("99.4")));
}

#[test]
fn a_sell_stop_triggers_only_when_the_price_falls_through_it() {
    let mut book = Book::new();
    let mut o = new("c1", Side::Sell, OrderType::Stop, TimeInForce::Gtc, "3");
    o.stop_price = Some(d("95"));
    book.place("v1".into(), o, d("100"), 0, &mut never()).unwrap();
    assert_eq!(book.on_price("AAPL", d("96"), 1, &mut never()), 0);
    assert_eq!(book.on_price("AAPL", d("94.99"), 2, &mut never()), 1);
    let o = book.get("v1").unwrap();
    assert!(o.triggered);
    assert_eq!(o.filled_qty(), d("3"));
}

#[test]
fn a_stop_limit_triggers_then_waits_for_its_limit() {
    let mut book = Book::new();
    let mut o = new("c1", Side::Buy, OrderType::StopLimit, TimeInForce::Gtc, "2");
    o.stop_price = Some(d("101"));
    o.limit_price = Some(d("101.50"));
    book.place("v1".into(), o, d("100"), 0, &mut never()).unwrap();
    assert_eq!(
        book.on_price("AAPL", d("102"), 1, &mut never()),
        1,
        "triggered, not filled"
    );
    assert_eq!(book.get("v1").unwrap().status, VenueStatus::New);
    book.on_price("AAPL", d("101.25"), 2, &mut never());
    assert_eq!(book.get("v1").unwrap().status, VenueStatus::Filled);
}

#[test]
fn partial_fills_accumulate_with_an_exact_average() {
    let mut book = Book::new();
    let o = new("c1", Side::Buy, OrderType::Market, TimeInForce::Day, "3");
    book.place("v1".into(), o, d("100.01"), 0, &mut || true).unwrap();
    book.on_price("AAPL", d("100.02"), 1, &mut || true);
    assert_eq!(book.get("v1").unwrap().status, VenueStatus::PartiallyFilled);
    book.on_price("AAPL", d("100.02"), 2, &mut || true);
    let o = book.get("v1").unwrap();
    assert_eq!(o.status, VenueStatus::Filled, "1 + 1 + the last 1: {:?}", o.fills);
    assert_eq!(o.fills.len(), 3);
    assert_eq!(o.average_price(), Some(d("300.05") / d("3")));
}

#[test]
fn ioc_keeps_what_it_got_and_fok_is_all_or_nothing() {
    let mut book = Book::new();
    let o = new("ioc", Side::Buy, OrderType::Market, TimeInForce::Ioc, "10");
    let ioc = book.place("v1".into(), o, d("50"), 0, &mut || true).unwrap();
    assert_eq!((ioc.status.clone(), ioc.filled_qty()), (VenueStatus::Canceled, d("5")));

    let mut o = new("fok", Side::Buy, OrderType::Limit, TimeInForce::Fok, "10");
    o.limit_price = Some(d("49"));
    let fok = book.place("v2".into(), o, d("50"), 0, &mut || true).unwrap();
    assert_eq!(
        (fok.status.clone(), fok.filled_qty()),
        (VenueStatus::Canceled, Decimal::ZERO)
    );

    let o = new("fok2", Side::Buy, OrderType::Market, TimeInForce::Fok, "10");
    let fok = book.place("v3".into(), o, d("50"), 0, &mut || true).unwrap();
    assert_eq!(
        (fok.status.clone(), fok.filled_qty()),
        (VenueStatus::Filled, d("10")),
        "partial knob ignored"
    );
}

#[test]
fn duplicates_cancels_and_expiry() {
    let mut book = Book::new();
    let mut day = new("day", Side::Buy, OrderType::Limit, TimeInForce::Day, "1");
    day.limit_price = Some(d("1"));
    let mut gtc = day.clone();
    gtc.client_order_id = "gtc".into();
    gtc.time_in_force = TimeInForce::Gtc;
    book.place("v1".into(), day.clone(), d("100"), 0, &mut never()).unwrap();
    book.place("v2".into(), gtc, d("100"), 0, &mut never()).unwrap();
    assert_eq!(
        book.place("v3".into(), day, d("100"), 0, &mut never()),
        Err(BookError::DuplicateClientOrderId)
    );
    assert_eq!(book.orders().len(), 2);
    assert_eq!(book.expire(999, 1000), 0);
    assert_eq!(book.expire(1000, 1000), 1);
    assert_eq!(book.get("v1").unwrap().status, VenueStatus::Expired);
    assert_eq!(book.get("v2").unwrap().status, VenueStatus::New, "GTC never expires");
    assert_eq!(
        book.cancel("v1", 1001),
        Err(BookError::NotCancelable(VenueStatus::Expired))
    );
    assert_eq!(book.cancel("v2", 1001).map(|o| o.status), Ok(VenueStatus::Canceled));
    assert_eq!(book.cancel("nope", 1001), Err(BookError::NotFound));
}

#[test]
fn the_book_survives_a_json_round_trip() {
    let mut book = Book::new();
    let o = new("c1", Side::Buy, OrderType::Market, TimeInForce::Day, "3");
    book.place("v1".into(), o, d("100.0001"), 5, &mut || true).unwrap();
    let text = serde_json::to_string(&book).unwrap();
    let back: Book = serde_json::from_str(&text).unwrap();
    assert_eq!(back, book);
}

//! A fixed amount of work for `valgrind --tool=callgrind` (issue 7 part 5): criterion
//! runs for a time, so its instruction counts vary; this runs exactly N calls.
//!
//! `HOT_PATH_CALLGRIND=<path>:<n>` makes the bench binary run `n` calls of `<path>`
//! inside `profiled_calls` and exit; collect only that function with
//! `--toggle-collect='*profiled_calls*'` and divide callgrind's total by `n`.

use std::hint::black_box;

use futures::executor::block_on;
use shared::app::{SubmitDeps, SubmitRequest};
use shared::http::lambda::{body, reply_response, request_id, trader};
use shared::http::submit::submit;

use crate::world::{LIMIT_BUY, SUBMIT_EVENT, SUBMIT_EVENT_CLIENT_ORDER_ID, World, distinct_buys};

pub const PATHS: [&str; 4] = [
    "accept_201",
    "lambda_event_201",
    "accept_201_unkeyed",
    "accept_201_unkeyed_all_checks",
];

/// Parses `<path>:<n>`, runs it, and prints how many calls answered 201.
pub fn run(spec: &str) -> Result<(), String> {
    let (path, n) = spec
        .split_once(':')
        .ok_or_else(|| format!("HOT_PATH_CALLGRIND must be <path>:<calls>, got {spec:?}"))?;
    let n: usize = n
        .parse()
        .map_err(|e| format!("HOT_PATH_CALLGRIND calls {n:?} is not a count: {e}"))?;
    if !PATHS.contains(&path) {
        return Err(format!("HOT_PATH_CALLGRIND path {path:?} is not one of {PATHS:?}"));
    }
    let world = World::with_checks(path == "accept_201_unkeyed_all_checks");
    let first = world
        .submit(LIMIT_BUY, Some("profile-check"))
        .map_err(|e| e.to_string())?;
    crate::world::check_accepted(&first.body);
    let run = ulid::Ulid::new();
    let unkeyed = path.starts_with("accept_201_unkeyed");
    // Unkeyed: distinct bodies placed 600 ms apart, as the criterion benchmarks do.
    let inputs: Vec<String> = if unkeyed { distinct_buys(n as u64) } else { Vec::new() };
    let inputs: Vec<String> = if unkeyed {
        inputs
    } else {
        (0..n)
            .map(|i| {
                let key = format!("profile-{run}-{i}");
                match path {
                    "accept_201" => key,
                    _ => SUBMIT_EVENT
                        .replace("demo-order-1", &key)
                        .replace(SUBMIT_EVENT_CLIENT_ORDER_ID, ""),
                }
            })
            .collect()
    };
    let accepted = profiled_calls(&world, path, &inputs);
    println!("{path}: {accepted} of {n} calls answered 201");
    if accepted == n {
        Ok(())
    } else {
        Err(format!("{} of {n} {path} calls were not a 201", n - accepted))
    }
}

/// The measured region: callgrind counts only what runs under this frame.
#[inline(never)]
fn profiled_calls(world: &World, path: &str, inputs: &[String]) -> usize {
    let mut accepted = 0;
    for input in inputs {
        let status = if path == "accept_201" {
            world.submit(LIMIT_BUY, Some(input)).map(|r| r.status)
        } else if path.starts_with("accept_201_unkeyed") {
            world.submit_unkeyed(input, 600).map(|r| r.status)
        } else {
            lambda_event(world, input)
        };
        accepted += usize::from(black_box(status) == Ok(201));
    }
    accepted
}

/// `functions/submit`'s handler over the in-memory ports, from the raw event.
pub fn lambda_event(world: &World, event: &str) -> Result<u16, shared::http::ApiError> {
    let req =
        lambda_http::request::from_str(event).map_err(|e| shared::http::ApiError::MalformedJson(e.to_string()))?;
    let deps = SubmitDeps {
        store: &world.store,
        clock: &world.clock,
        pricing: &world.pricing,
        market_data: None,
        queue: None,
    };
    let request = SubmitRequest {
        trader: trader(&req)?,
        body: body(&req),
        idempotency_key: req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()),
        request_id: request_id(&req),
        confirm_duplicate: None,
    };
    let reply = block_on(submit(&deps, request))?;
    Ok(reply_response(&reply).status().as_u16())
}

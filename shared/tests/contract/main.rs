//! One contract for both adapter sets: every case runs against the in-memory adapters
//! and against DynamoDB/SQS/EventBridge on the local emulator (`make test` starts it
//! and exports the resource names; plain `cargo test` skips the emulator half).

mod attention_cases;
mod cases;
mod duplicate_cases;
mod fixture;
mod notional_cases;
mod order_queries;
mod replace_cases;

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    crate::cases::$case(crate::fixture::memory().await).await;
                }
            )+
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs the local AWS emulator: run `make test`"]
                async fn $case() {
                    crate::cases::$case(crate::fixture::aws().await).await;
                }
            )+
        }
    };
}

contract!(
    accounts_are_funded_and_read_back,
    a_replace_holds_the_larger_reservation_and_the_confirm_reads_back,
    a_replace_of_a_sell_holds_only_shares_that_are_available,
    a_replace_key_is_taken_once,
    submit_reserves_cash_and_writes_the_first_audit_record,
    submit_refusals_write_nothing,
    a_buy_goes_through_claim_partial_and_final_fill,
    a_fill_that_takes_cash_below_zero_is_booked_and_flagged,
    sells_reserve_and_book_against_the_position,
    cancelling_a_pending_order_releases_its_reservation,
    a_transition_from_a_stale_read_is_refused_by_the_store,
    a_transition_the_table_forbids_is_refused_by_the_store,
    racing_transitions_from_one_version_commit_once,
    a_fill_is_recorded_once_per_execution_id,
    orders_list_newest_first_with_pages_and_status,
    audit_records_cannot_be_overwritten_and_tampering_is_found,
    concurrent_reservations_accept_exactly_what_the_balance_covers,
    the_daily_loss_guard_counts_todays_realized_losses,
    work_messages_round_trip_and_are_deleted,
    work_messages_sent_together_all_arrive,
    a_message_hidden_for_zero_seconds_comes_back_at_once,
    the_working_index_keeps_orders_until_removed,
    status_events_are_published_beyond_one_put_events_batch,
    an_idempotency_key_commits_with_its_order_and_is_taken_once,
    concurrent_submits_with_one_key_make_one_order,
    a_rejected_submit_records_its_audit_and_its_key,
    the_rate_limit_counts_per_trader_per_minute,
    the_venue_budget_caps_each_window_for_every_caller,
    the_intake_cursor_moves_only_from_the_version_read,
    order_locators_and_venue_aliases_are_kept,
    a_deposit_averages_the_cost_of_the_held_and_deposited_lots,
    operator_changes_are_recorded_in_the_account_chain,
    an_operation_id_is_applied_once,
    a_stored_order_and_its_chain_are_anchored,
    trading_states_guard_the_submit_transaction,
    trading_state_changes_are_recorded_once_per_operation,
    orders_filter_by_time_symbol_side_and_direction,
    client_order_ids_are_unique_among_open_orders_and_find_the_latest,
    an_identical_order_within_the_window_is_refused_unless_confirmed,
    an_accounts_duplicate_window_and_restricted_symbols_read_back,
    the_notional_window_is_written_with_the_order_over_the_version_read,
    of_submits_racing_from_one_window_read_exactly_one_commits,
    the_window_reads_with_the_account_when_the_account_has_the_limit,
    an_operators_record_commits_with_its_transition_or_not_at_all,
    a_mismatch_is_recorded_once_a_day,
    dead_letters_are_counted_and_moved_back_to_the_work_queue,
);

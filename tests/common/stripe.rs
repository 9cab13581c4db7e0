//! Stripe objects and events in the documented shape of the API version the client reads
//! (2026-09-30.endive), with the fields its typed parser requires, for tests and benches. `at` is
//! the unix second the objects are made around.
// Each includer uses a part of these.
#![allow(dead_code)]

use serde_json::{Value, json};

/// A Stripe event envelope of the API version the client speaks.
pub fn event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": "2026-09-30.endive", "created": created,
        "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
        "type": kind, "data": {"object": object}
    })
    .to_string()
}

pub fn completed_checkout(user_id: &str, tier: &str, customer: &str, at: i64) -> Value {
    json!({
        "id": "cs_test_1", "object": "checkout.session", "automatic_tax": {"enabled": false},
        "client_reference_id": user_id, "created": at - 60, "custom_fields": [],
        "custom_text": {}, "customer": customer, "expires_at": at + 86_400, "livemode": false,
        "metadata": {"user_id": user_id, "tier": tier}, "mode": "subscription",
        "payment_method_types": ["card"], "payment_status": "paid", "shipping_options": [],
        "status": "complete", "subscription": "sub_1", "url": null
    })
}

pub fn subscription(user_id: &str, tier: &str, status: &str, period_end: i64, at: i64) -> Value {
    let price = json!({
        "id": "price_pro", "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": at - 86_400, "currency": "eur", "livemode": false, "metadata": {},
        "product": "prod_1", "type": "recurring"
    });
    let plan = json!({
        "id": "price_pro", "object": "plan", "active": true, "billing_scheme": "per_unit",
        "created": at - 86_400, "currency": "eur", "interval": "month", "interval_count": 1,
        "livemode": false, "usage_type": "licensed"
    });
    json!({
        "id": "sub_1", "object": "subscription", "automatic_tax": {"enabled": false},
        "billing_cycle_anchor": at - 60, "billing_mode": {"type": "classic"},
        "billing_schedules": [], "cancel_at_period_end": status == "active" && tier == "pro",
        "collection_method": "charge_automatically", "created": at - 60, "currency": "eur",
        "customer": "cus_1", "discounts": [], "invoice_settings": {"issuer": {"type": "self"}},
        "items": {"object": "list", "has_more": false, "url": "/v1/subscription_items", "data": [{
            "id": "si_1", "object": "subscription_item", "created": at - 60,
            "current_period_start": at - 60, "current_period_end": period_end,
            "discounts": [], "metadata": {}, "subscription": "sub_1", "plan": plan, "price": price,
            "quantity": 1
        }]},
        "livemode": false, "metadata": {"user_id": user_id, "tier": tier},
        "start_date": at - 60, "status": status
    })
}

pub fn invoice(amount: i64, at: i64) -> Value {
    json!({
        "id": "in_1", "object": "invoice", "amount_due": amount, "amount_overpaid": 0,
        "amount_paid": amount, "amount_remaining": 0, "amount_shipping": 0, "attempt_count": 1,
        "attempted": true, "automatic_tax": {"enabled": false},
        "collection_method": "charge_automatically", "created": at - 30, "currency": "eur",
        "customer": "cus_1", "default_tax_rates": [], "discounts": [],
        "issuer": {"type": "self"},
        "lines": {"object": "list", "data": [], "has_more": false, "url": "/v1/invoices/in_1/lines"},
        "livemode": false, "payment_settings": {}, "period_end": at, "period_start": at - 60,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0, "status_transitions": {}, "subtotal": amount, "total": amount
    })
}

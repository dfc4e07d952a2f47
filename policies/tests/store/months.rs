//! Calendar months: a reservation settles into the month it was made in (memory store, whose
//! clock a test can move), and the Lua scripts compute the same months as `quota.rs` (Redis, whose
//! scripts read the server clock, so their arithmetic is checked directly).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sluice_mock_upstream::RedisServer;
use sluice_policies::quota::{month_of, next_month_start};
use sluice_policies::store::{MemoryStore, Store};

use super::support::{granted, monthly, BOB};

#[tokio::test]
async fn a_reservation_settles_into_its_own_month() {
    let dec_31_late: u64 = 1_735_689_000; // 2024-12-31T23:50:00Z
    let ms = Arc::new(AtomicU64::new(dec_31_late * 1000));
    let clock = ms.clone();
    let store =
        MemoryStore::new().with_unix_clock(Arc::new(move || Duration::from_millis(clock.load(Ordering::SeqCst))));
    let dec = granted(store.admit(&BOB.req("dec", monthly(1000), 100, Some(800))).await.unwrap());
    assert_eq!(dec.month, "2024-12");
    ms.fetch_add(20 * 60 * 1000, Ordering::SeqCst); // 2025-01-01T00:10:00Z
    let jan = granted(store.admit(&BOB.req("jan", monthly(1000), 100, Some(800))).await.unwrap());
    assert_eq!(jan.month, "2025-01", "a new month starts with the whole quota");
    let settled = store.settle(&dec, 700).await.unwrap();
    assert_eq!((settled.applied, settled.used), (true, 700), "December's usage");
    let u = store.usage("acme", "bob").await.unwrap();
    assert_eq!((u.month.as_str(), u.used, u.reserved, u.resets_at), ("2025-01", 0, 900, 1_738_368_000));
    store.settle(&jan, 10).await.unwrap();
    assert_eq!(store.usage("acme", "bob").await.unwrap().used, 10);
}

#[tokio::test]
async fn lua_months_match_quota_rs() {
    let server = RedisServer::start().unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let script = redis::Script::new(concat!(
        include_str!("../../src/store/lua/common.lua"),
        "local out = {}\nfor i, t in ipairs(ARGV) do\n  local m, n = month_of(tonumber(t))\n  out[2 * i - 1] = m\n  out[2 * i] = n\nend\nreturn out\n"
    ));
    // Every month boundary (±1 s) from 1970 to 2200, plus leap days.
    let mut times = vec![951_782_400, 1_709_208_000, 4_107_542_399, 4_107_542_400];
    let mut t = 0;
    while t < 7_258_118_400 {
        let next = next_month_start(t);
        times.extend([next - 1, next, next + 1]);
        t = next;
    }
    for chunk in times.chunks(500) {
        let mut inv = script.prepare_invoke();
        for t in chunk {
            inv.arg(*t);
        }
        let got: Vec<redis::Value> = inv.invoke_async(&mut conn).await.unwrap();
        for (i, t) in chunk.iter().enumerate() {
            let month = redis::from_redis_value_ref::<String>(&got[2 * i]).unwrap();
            let next = redis::from_redis_value_ref::<u64>(&got[2 * i + 1]).unwrap();
            assert_eq!((month.as_str(), next), (month_of(*t).as_str(), next_month_start(*t)), "at {t}");
        }
    }
}

//! `serve --demo` on a database that already has the demo: each start mints and prints a new
//! all-scopes key and revokes the one the previous start minted, so at most one demo key is live;
//! keys made any other way (even one with the demo key's name) are left alone.

use sequence_core::ids::ApiKeyId;
use sequence_core::permissions::Permissions;
use sequence_server::demo;
use sequence_store::keys;

use crate::harness::{assert_error, both_backends};

/// The id of a plaintext key `seqk_<ULID>_<secret>`: `key_<ULID>`.
fn id_of(plaintext: &str) -> ApiKeyId {
    let ulid = plaintext.strip_prefix("seqk_").and_then(|rest| rest.split('_').next()).unwrap();
    ApiKeyId::from_raw(format!("{}{ulid}", ApiKeyId::PREFIX))
}

both_backends! {
    async fn a_demo_restart_revokes_the_key_the_previous_start_printed(app: TestApp) {
        let store = &app.state.store;
        let first = demo::seed(store, chrono::Utc::now()).await.expect("first start");
        assert!(first.created);
        assert_eq!(first.revoked_keys, []);
        assert_eq!(app.get("/api/v1/accounts", Some(&first.api_key)).await.status, 200);
        // An operator's own key in the demo organization, named like the demo's.
        let now = chrono::Utc::now();
        let operators =
            sequence_server::auth::mint(&first.org_id, "demo (all scopes)", &Permissions::all_scopes(), now);
        let mut tx = store.begin().await.unwrap();
        keys::insert(&mut tx, &operators.record).await.unwrap();
        tx.commit().await.unwrap();

        let second = demo::seed(store, chrono::Utc::now()).await.expect("second start");
        // A restart is a new process: it starts with an empty key cache.
        app.state.keys.clear();
        assert_eq!((&second.org_id, second.created), (&first.org_id, false));
        assert_eq!(second.revoked_keys, [id_of(&first.api_key)]);
        assert_error(&app.get("/api/v1/accounts", Some(&first.api_key)).await, 401, "unauthorized");
        assert_eq!(app.get("/api/v1/accounts", Some(&second.api_key)).await.status, 200);
        let operator_still_works = app.get("/api/v1/accounts", Some(&operators.plaintext)).await;
        assert_eq!(operator_still_works.status, 200, "not a demo key: {}", operator_still_works.raw);

        let third = demo::seed(store, chrono::Utc::now()).await.expect("third start");
        app.state.keys.clear();
        assert_eq!(third.revoked_keys, [id_of(&second.api_key)]);
        assert_error(&app.get("/api/v1/accounts", Some(&second.api_key)).await, 401, "unauthorized");
        assert_eq!(app.get("/api/v1/accounts", Some(&third.api_key)).await.status, 200);

        let mut conn = store.pool().acquire().await.unwrap();
        let stored = keys::list(&mut conn, &first.org_id).await.unwrap();
        assert_eq!(stored.len(), 4, "three demo starts and the operator's key: {stored:?}");
        let mut live: Vec<ApiKeyId> =
            stored.iter().filter(|k| k.revoked_at.is_none()).map(|k| k.id.clone()).collect();
        live.sort();
        let mut expected = vec![id_of(&third.api_key), operators.record.id.clone()];
        expected.sort();
        assert_eq!(live, expected, "one live demo key (the last printed), plus the operator's");
    }
}

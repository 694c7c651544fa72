//! The webhook operations of `SandboxApi` (registering, listing and deleting endpoints, listing
//! an endpoint's delivery attempts, reading an event), called from the trait's impl in
//! [`super::sandbox`]. HTTP translation only: the use cases are `sequence_app::webhooks`.

use sequence_api::runtime::RequestContext;
use sequence_api::server::{
    CreateSandboxWebhookEndpointParams, CreateSandboxWebhookEndpointResponse,
    DeleteSandboxWebhookEndpointParams, DeleteSandboxWebhookEndpointResponse,
    GetSandboxWebhookEventParams, GetSandboxWebhookEventResponse,
    ListSandboxWebhookDeliveriesParams, ListSandboxWebhookDeliveriesResponse,
    ListSandboxWebhookEndpointsParams, ListSandboxWebhookEndpointsResponse,
};
use sequence_api::types;
use sequence_app::webhooks::{self, NewEndpoint};
use sequence_store::webhooks::{AttemptRecord, EndpointRecord};

use super::transfers::{after_cursor, page_size};
use crate::auth::Principal;
use crate::convert::{Twin, cursor, wire};
use crate::error::{ApiError, respond};
use crate::state::Server;

fn endpoint(record: &EndpointRecord) -> Result<types::WebhookEndpoint, ApiError> {
    Ok(types::WebhookEndpoint {
        id: wire(record.id.as_str())?,
        url: record.url.clone(),
        event_types: record
            .event_types
            .as_ref()
            .map(|types| types.iter().map(|t| t.twin()).collect()),
        description: record.description.clone(),
        created_at: record.created_at,
    })
}

fn attempt(record: &AttemptRecord) -> Result<types::WebhookDeliveryAttempt, ApiError> {
    Ok(types::WebhookDeliveryAttempt {
        id: wire(record.id.as_str())?,
        delivery_id: wire(record.delivery_id.as_str())?,
        endpoint_id: wire(record.endpoint_id.as_str())?,
        event_id: wire(record.event_id.as_str())?,
        event: record.event_type.twin(),
        attempt: std::num::NonZeroU32::new(record.attempt)
            .ok_or_else(|| ApiError::internal("an attempt numbered 0"))?,
        created_at: record.created_at,
        duration_ms: i64::try_from(record.duration_ms).unwrap_or(i64::MAX),
        response_status: record.response_status.map(i32::from),
        error: record.error.clone(),
        outcome: record.outcome.twin(),
        next_attempt_at: record.next_attempt_at,
    })
}

impl Server {
    pub(crate) async fn sandbox_list_webhook_endpoints(
        &self,
        ctx: RequestContext<Principal>,
        _params: ListSandboxWebhookEndpointsParams,
    ) -> ListSandboxWebhookEndpointsResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let records = webhooks::list_endpoints(&mut conn, &ctx.principal.org_id).await?;
            Ok(ListSandboxWebhookEndpointsResponse::Ok(types::WebhookEndpointListResponse {
                request_id: ctx.request_id.clone(),
                data: records.iter().map(endpoint).collect::<Result<_, _>>()?,
            }))
        }
        .await;
        respond(&ctx, result)
    }

    pub(crate) async fn sandbox_create_webhook_endpoint(
        &self,
        ctx: RequestContext<Principal>,
        params: CreateSandboxWebhookEndpointParams,
    ) -> CreateSandboxWebhookEndpointResponse {
        let body = &params.body;
        // Omitted is every type; the spec requires at least one item when present.
        let event_types = (!body.event_types.is_empty())
            .then(|| body.event_types.iter().map(|t| t.twin()).collect::<Vec<_>>());
        let new = NewEndpoint {
            url: body.url.to_string(),
            event_types,
            description: body.description.as_deref().cloned(),
        };
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, body, |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = async {
                let record =
                    webhooks::create_endpoint(&self.app, &mut tx, org, new.clone()).await?;
                let view = endpoint(&record)?;
                let secret = wire(&record.secret)?;
                Ok(CreateSandboxWebhookEndpointResponse::Created(
                    types::WebhookEndpointCreatedResponse {
                        request_id: ctx.request_id.clone(),
                        data: types::WebhookEndpointWithSecret {
                            id: wire(view.id.as_str())?,
                            url: view.url,
                            event_types: view.event_types,
                            description: view.description,
                            created_at: view.created_at,
                            secret,
                        },
                    },
                ))
            }
            .await;
            (tx, result)
        })
        .await
    }

    pub(crate) async fn sandbox_delete_webhook_endpoint(
        &self,
        ctx: RequestContext<Principal>,
        params: DeleteSandboxWebhookEndpointParams,
    ) -> DeleteSandboxWebhookEndpointResponse {
        let key = params.idempotency_key.as_deref().map(String::as_str);
        self.mutate(&ctx, key, &(), |mut tx| async {
            let org = &ctx.principal.org_id;
            let result = webhooks::delete_endpoint(&self.app, &mut tx, org, &params.id)
                .await
                .map(|()| DeleteSandboxWebhookEndpointResponse::NoContent)
                .map_err(ApiError::from);
            (tx, result)
        })
        .await
    }

    pub(crate) async fn sandbox_list_webhook_deliveries(
        &self,
        ctx: RequestContext<Principal>,
        params: ListSandboxWebhookDeliveriesParams,
    ) -> ListSandboxWebhookDeliveriesResponse {
        let result = async {
            let after = after_cursor(params.after.as_deref().map(String::as_str))?;
            let mut conn = self.read_connection().await?;
            let (records, has_next_page) = webhooks::list_attempts(
                &mut conn,
                &ctx.principal.org_id,
                &params.id,
                after.as_ref(),
                page_size(params.first),
            )
            .await?;
            let end_cursor = records
                .last()
                .map(|a| cursor::encode(sequence_store::to_millis(a.created_at), a.id.as_str()));
            Ok(ListSandboxWebhookDeliveriesResponse::Ok(
                types::WebhookDeliveryAttemptListResponse {
                    request_id: ctx.request_id.clone(),
                    data: records.iter().map(attempt).collect::<Result<_, _>>()?,
                    page_info: types::PageInfo { end_cursor, has_next_page },
                },
            ))
        }
        .await;
        respond(&ctx, result)
    }

    pub(crate) async fn sandbox_get_webhook_event(
        &self,
        ctx: RequestContext<Principal>,
        params: GetSandboxWebhookEventParams,
    ) -> GetSandboxWebhookEventResponse {
        let result = async {
            let mut conn = self.read_connection().await?;
            let record = webhooks::get_event(&mut conn, &ctx.principal.org_id, &params.id).await?;
            // The stored payload is what every attempt sends; parsing it into the generated type
            // also proves it has the spec's shape.
            let data: types::WebhookEvent = serde_json::from_str(&record.payload).map_err(|e| {
                ApiError::internal(format!("event {} does not parse: {e}", record.id))
            })?;
            Ok(GetSandboxWebhookEventResponse::Ok(types::WebhookEventResponse {
                request_id: ctx.request_id.clone(),
                data,
            }))
        }
        .await;
        respond(&ctx, result)
    }
}

//! Sampling: the standard samplers of `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`
//! (default `parentbased_always_on`; `parentbased_traceidratio` with `0.01` keeps 1% of
//! traces and every span of those), wrapped by [`LinkAware`] for the spans that gather many
//! traces: a storage round (`storage.commit`) and a formed match (`matchmaking.match`) are
//! roots whose links point at the commands or tickets they carried. Such a span carries the
//! attribute `roomcore.sampled_by = "links"` and is sampled exactly when one of its links is,
//! so a sampled move always shows the commit that made it durable and an unsampled one never
//! starts a trace of its own.

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use crate::config::{SamplerKind, TelemetryArgs};

/// The attribute that asks for sampling by links.
pub const SAMPLED_BY: &str = "roomcore.sampled_by";

/// The configured sampler, plus sampling by links for the spans that ask for it.
#[derive(Debug, Clone)]
pub struct LinkAware {
    base: Sampler,
}

/// The SDK sampler of a configured kind and ratio.
pub fn sampler(kind: SamplerKind, ratio: f64) -> Sampler {
    match kind {
        SamplerKind::AlwaysOn => Sampler::AlwaysOn,
        SamplerKind::AlwaysOff => Sampler::AlwaysOff,
        SamplerKind::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        SamplerKind::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerKind::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerKind::ParentBasedTraceIdRatio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

impl LinkAware {
    pub fn new(base: Sampler) -> LinkAware {
        LinkAware { base }
    }

    pub fn from_config(cfg: &TelemetryArgs) -> LinkAware {
        LinkAware::new(sampler(cfg.traces_sampler, cfg.traces_sampler_arg))
    }
}

impl ShouldSample for LinkAware {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let root = parent.is_none_or(|cx| !cx.span().span_context().is_valid());
        if root && attributes.iter().any(|a| a.key.as_str() == SAMPLED_BY) {
            let sampled = links.iter().any(|l| l.span_context.is_sampled());
            return SamplingResult {
                decision: if sampled {
                    SamplingDecision::RecordAndSample
                } else {
                    SamplingDecision::Drop
                },
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.base
            .should_sample(parent, trace_id, name, kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags};

    fn link(sampled: bool) -> Link {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Link::with_context(SpanContext::new(
            TraceId::from(7u128),
            SpanId::from(9u64),
            flags,
            true,
            TraceState::default(),
        ))
    }

    fn decide(s: &LinkAware, attrs: &[KeyValue], links: &[Link]) -> SamplingDecision {
        s.should_sample(
            None,
            TraceId::from(1u128),
            "x",
            &SpanKind::Internal,
            attrs,
            links,
        )
        .decision
    }

    #[test]
    fn spans_sampled_by_links_follow_their_links_only() {
        let s = LinkAware::new(sampler(SamplerKind::ParentBasedAlwaysOn, 1.0));
        let by_links = [KeyValue::new(SAMPLED_BY, "links")];
        assert_eq!(
            decide(&s, &by_links, &[link(false), link(true)]),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(&s, &by_links, &[link(false)]),
            SamplingDecision::Drop
        );
        assert_eq!(decide(&s, &by_links, &[]), SamplingDecision::Drop);
        // other spans: the configured sampler
        assert_eq!(decide(&s, &[], &[]), SamplingDecision::RecordAndSample);
        let off = LinkAware::new(sampler(SamplerKind::ParentBasedTraceIdRatio, 0.0));
        assert_eq!(decide(&off, &[], &[link(true)]), SamplingDecision::Drop);
    }
}

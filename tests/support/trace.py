"""An incoming trace, as a caller upstream would send it: sampled, with its baggage."""

TRACE_ID = "771a43a4192642f0b136d5159a501700"
PARENT_SPAN_ID = "b0e6f15b45c36b12"
INCOMING = {
    "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-1",
    "baggage": f"sentry-trace_id={TRACE_ID},sentry-sample_rate=1.0,sentry-sampled=true",
}

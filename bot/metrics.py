"""Prometheus metrics of one bot process (its own registry, so tests can read it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.updates = Counter(
            "psm_updates_total", "Telegram updates handled", ["kind"], registry=self.registry
        )
        self.deliveries = Counter(
            "psm_deliveries_total", "Delivery outcomes", ["outcome"], registry=self.registry
        )
        self.rate_limited = Counter(
            "psm_telegram_429_total", "Answers 429 (Too Many Requests)", registry=self.registry
        )
        self.token_refused = Counter(
            "psm_telegram_401_total",
            "Answers 401 Unauthorized (the bot token refused: sending stops until it works)",
            registry=self.registry,
        )
        self.sending_stopped = Gauge(
            "psm_sender_token_refused",
            "1 while Telegram refuses the bot token and nothing is sent",
            registry=self.registry,
        )
        self.sender_restarts = Counter(
            "psm_sender_restarts_total",
            "Times the sender ended unexpectedly and was started again",
            registry=self.registry,
        )
        self.feed_polls = Counter(
            "psm_feed_polls_total", "Feed polls", ["result"], registry=self.registry
        )
        self.backlog = Gauge(
            "psm_delivery_backlog",
            "Deliveries waiting (pending, held, claimed)",
            registry=self.registry,
        )
        self.latency = Histogram(
            "psm_notification_to_delivery_seconds",
            "Time from a notification becoming due to its delivery",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""The only code that sends notifications: targeting, claiming, rendering, rate limits, retries."""

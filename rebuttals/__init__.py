"""Pure claim-matching domain: text in, ranked rebuttals out (never imports `monitor`)."""

"""A handful of realistic tickets, used by the demo and as export smoke-test inputs."""

SAMPLE_TICKETS = (
    ("VPN keeps disconnecting", "Since this morning the VPN drops every few minutes when I work from home."),
    ("Laptop will not power on", "My laptop does not start any more, the power LED blinks orange twice."),
    ("Need access to the finance share", "Please grant me read access to \\\\fs01\\finance for the audit."),
    ("Outlook stuck on loading profile", "Outlook hangs at 'Loading profile' since the update yesterday."),
    ("Printer on floor 3 jammed", "The printer next to the kitchen shows a paper jam and prints nothing."),
    (
        "Suspicious email with attachment",
        "I received an invoice email from an unknown sender asking me to enable macros.",
    ),
    ("Database query timeout", "The nightly report query against the sales database times out after 30 seconds."),
    ("Excel crashes when opening macros", "Excel closes without an error when I open the budget workbook."),
)

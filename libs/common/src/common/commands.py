"""Names of the worker's Celery commands. Other services send them by name (outbox → ``send_task``)
and never import the worker's code. Every one of them is a ``TenantTask`` on the ``ledger`` queue."""

LEDGER_QUEUE = "ledger"
COMMAND_QUEUES = (LEDGER_QUEUE,)

ALLOCATE_PAYMENT = "ledger.allocate_payment"          # (payment_id, loan_id, amount, currency, value_date)
REVERSE_PAYMENT = "ledger.reverse_payment"            # (payment_id, reason)
ACCRUE_DAILY_INTEREST = "ledger.accrue_daily_interest"  # (loan_id, through)
ACCRUE_PORTFOLIO = "ledger.accrue_portfolio"          # (run_id, through)
CHARGE_OFF = "ledger.charge_off"                      # (loan_id, as_of)
WRITE_OFF = "ledger.write_off"                        # (loan_id, as_of)
RUN_DAILY = "ledger.run_daily"                        # (through)  accrual, then fees and delinquency

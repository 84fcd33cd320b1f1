"""What users read: debugprint and pprint (to be written)."""

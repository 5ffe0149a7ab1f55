"""Twilio inbound: SMS replies, voice keypresses and delivery status callbacks."""

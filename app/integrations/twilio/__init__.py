"""Twilio: the SMS and voice provider (``provider``), SMS text and reply codes (``sms_text``,
``reply_codes``), page calls (``voice``), and the webhooks Twilio calls back on (``api``,
``service``: SMS replies, keypresses, delivery status callbacks).
"""

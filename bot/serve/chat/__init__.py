"""Chat webhooks: Slack events and slash commands, and a generic outgoing webhook (Mattermost).

Takes in signed chat events; gives out replies posted in the thread, each event answered exactly once.
Read ``routes`` first, then ``inbound`` (request checks), ``slack_verify``, ``jobs`` and ``slack_client``.
"""

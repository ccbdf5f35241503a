"""The GraphQL API: schema, HTTP view, context, tokens and error codes."""

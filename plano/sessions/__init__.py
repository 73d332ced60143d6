"""Session bindings storage: where affinity bindings live (SPEC §6), nothing more.

May import the standard library, redis, plano.config.model, plano.errors and
plano.routing.affinity (for the SessionBinding value). Stores and reads bindings only: what a
binding means for a call is decided in plano.routing.affinity. Nothing connects at import or
at construction; backend failures leave as SessionStoreError so the gateway can fail open.
"""

def _(message):
    """Mark a message for translation and return it unchanged.

    Odoo's translation export finds every ``_("…")`` call of the module, so
    these messages get into ``i18n/*.po`` although this package imports
    nothing from Odoo. The operation's context translates them when they
    reach a person (:meth:`OperationContext.text`, step labels, progress).
    """
    return message

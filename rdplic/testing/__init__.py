"""Hypothesis strategies for rdplic's PDUs, installed for users' own property tests.

``rdplic.testing.licensing``: every licensing message and inner structure, valid
(`licensing.pdus`, `licensing.licensing_pdu_bytes`) and almost valid
(`licensing.almost_valid_licensing_pdus`); ``rdplic.testing.connection``: the connection
sequence's PDUs (X.224, MCS, GCC, security header, Client Info...) and byte mutators
(`connection.mutated`, `connection.hostile`).  Hypothesis is an optional dependency
(``pip install 'rdplic[fuzz]'``); importing these modules without it raises ImportError.

A user's property test (see README, "Strategies for your own tests")::

    from hypothesis import given
    from rdplic.testing.licensing import almost_valid_licensing_pdus
    from rdplic.pdu.errors import PduError
    from rdplic.pdu.licensing import decode_licensing_pdu

    @given(almost_valid_licensing_pdus())
    def test_my_parser_never_crashes(data):
        try:
            decode_licensing_pdu(data)
        except PduError:
            pass
"""

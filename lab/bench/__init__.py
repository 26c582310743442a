"""Measurement, in a room of its own: the benches behind ``lab bench`` (``crf``: CRF
inference against torch-struct and pytorch-crf; ``rnn``: each encoder's training speed;
``tagger``: the taggers against nn.LSTM + pytorch-crf). Above training and runs, which
they time and whose provenance they state; nothing below imports them."""

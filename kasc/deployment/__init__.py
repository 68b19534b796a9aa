"""What runs on a device: the LiteRT interpreter (``litert_runner``), the waveform-in
int8 model with the front end inside (``waveform_model``) and scene timelines of long
recordings (``timeline``)."""

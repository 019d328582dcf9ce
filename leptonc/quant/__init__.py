"""Post-training quantization: calibration data, observers, statistics collection and the
QDQ rewrite (``quantize_graph``)."""

from leptonc.quant.calib_data import (
                                      CalibrationData,
                                      calibration_data,
                                      from_iterable,
                                      from_path,
                                      random_batches,
)
from leptonc.quant.calibrate import collect
from leptonc.quant.config import QuantConfig, scheme_config
from leptonc.quant.observers import (
                                      MSE,
                                      Entropy,
                                      MinMax,
                                      MovingAverageMinMax,
                                      Observer,
                                      Percentile,
                                      range_qparams,
)
from leptonc.quant.qdq import quantize_graph
from leptonc.quant.qdq_report import QuantizeReport

__all__ = ["MSE", "CalibrationData", "Entropy", "MinMax", "MovingAverageMinMax", "Observer",
           "Percentile", "QuantConfig", "QuantizeReport", "calibration_data", "collect",
           "from_iterable", "from_path", "quantize_graph", "random_batches", "range_qparams",
           "scheme_config"]

"""ML segmentation: behaviour (RFM + engagement) and preference clusters with scikit-learn."""

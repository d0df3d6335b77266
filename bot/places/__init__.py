"""Where in the UK a typed place is: the GeoNames gazetteer and the postcode-area table."""

"""GDPR data requests: subjects (whom), api (Copernica's calls), resource (the dlt resource and `request_data`)."""

from copernica_source.datarequests.api import DataRequestApi, Outcome
from copernica_source.datarequests.resource import data_requests, default_pipeline, request_data
from copernica_source.datarequests.subjects import Subject, make_subjects, parse_subject, read_subjects, subject

__all__ = ["data_requests", "request_data", "Outcome", "Subject", "subject", "parse_subject", "read_subjects",
           "make_subjects", "default_pipeline", "DataRequestApi"]

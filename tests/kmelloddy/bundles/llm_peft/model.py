import torch.nn as nn
from omegaconf import DictConfig, OmegaConf
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

# Sites have no internet: pretrained models come from the platform's store (fdd pretrained add NAME PATH).
from model_manager import download_model


class CausalLMPEFTModel(nn.Module):
	# The server builds CausalLMPEFTModel(config.yaml as a dict); sites call model_loader(configs).
	def __init__(self, configs: DictConfig):
		super(CausalLMPEFTModel, self).__init__()
		configs = OmegaConf.create(configs)
		path = download_model(configs.model_configs.pretrained_model_name_or_path)
		full_model = AutoModelForCausalLM.from_pretrained(path)
		self.peft_model = get_peft_model(full_model, LoraConfig(**configs.model_configs.lora_config))

	# send only the trainable (LoRA) weights
	def state_dict(self, *args, **kwargs):
		full_state_dict = super().state_dict(*args, **kwargs)
		trainable = {name for name, param in self.named_parameters() if param.requires_grad}
		return {name: full_state_dict[name] for name in trainable}

	def forward(self, *args, **kwargs):
		return self.peft_model(*args, **kwargs)


def model_loader(configs: DictConfig):
	model = CausalLMPEFTModel(configs)
	return model
